#!/usr/bin/env python3
"""tools/notifier.py - a reference notifier for pg_rollout's outbox.

The database decides and records notifications; it sends nothing. This
script shows the other half: it reads the pending events of
rollout.pending_events (oldest first, in batches), delivers each remediation
notification by the channel stored with it (the tenant's preference,
rollout.set_tenant_preference), and acknowledges what it delivered with
rollout.ack_events(up_to_event_id).

Delivery here is into a spool directory, one writer per channel, so that
it runs anywhere (put a mailer or an HTTP client behind it):

  in_app        SPOOL/in_app/<tenant_id>.jsonl      one JSON line per notification
  email_digest  SPOOL/email/<target>/<day>-<event_id>.txt
                                                    one text e-mail per digest event
  webhook       SPOOL/webhook/<target>.jsonl        one JSON line per notification
  other events  SPOOL/events.jsonl                  the event's payload

Delivery is at least once: events are acknowledged after they are written,
so a crash in between delivers them again; every line and file carries the
event_id (and notification_id) for the consumer to drop duplicates.

Connection: psql's environment (PGHOST, PGPORT, PGUSER, PGDATABASE, ...);
the role needs rollout_viewer (to read) and rollout_operator (to ack).

  python3 tools/notifier.py --once SPOOL          # deliver what is pending, then exit
  python3 tools/notifier.py --interval 30 SPOOL   # poll every 30 seconds

Prints one summary line per batch: "delivered E events (N notifications), acked up to ID".
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

BATCH = 500


def psql(sql):
    out = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
                         check=True, capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line]


def safe(name):
    """A file name from a tenant id or target (no path separators)."""
    return re.sub(r"[^A-Za-z0-9._@+-]", "_", name or "none")[:200]


def append(path, line):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")


def email_text(event):
    d = event["details"]
    lines = [f"To: {d.get('target')}",
             f"Subject: {d['count']} upgrade notices for {d['org_id']} ({d['day']})",
             f"X-Pg-Rollout-Event: {event['event_id']}",
             ""]
    for i in d["items"]:
        late = " (late)" if i.get("late") else ""
        lines.append(f"- {i['tenant_id']}: {i['component_id']} {i['version']} {i['kind']} {i['milestone']}{late};"
                     f" EOL {i['eol_date']}, forced upgrade on {i['forced_upgrade_on']},"
                     f" upgrade to {i.get('target_version') or '(no upgrade path: contact us)'}")
    return "\n".join(lines) + "\n"


def deliver(spool, event):
    """Deliver one event; returns the number of notifications in it."""
    kind = event["event"]
    d = event.get("details") or {}
    if kind == "remediation.digest":
        items = d.get("items") or []
        if d.get("channel") == "email_digest":
            path = os.path.join(spool, "email", safe(d.get("target")),
                                f"{d['day']}-{event['event_id']}.txt")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(email_text(event))
        else:
            for i in items:
                deliver_one(spool, event["event_id"], i)
        return len(items)
    if kind == "remediation.milestone":
        deliver_one(spool, event["event_id"], d)
        return 1
    append(os.path.join(spool, "events.jsonl"), json.dumps(event, sort_keys=True))
    return 0


def deliver_one(spool, event_id, item):
    line = json.dumps(dict(item, event_id=event_id), sort_keys=True)
    if item.get("channel") == "webhook":
        append(os.path.join(spool, "webhook", safe(item.get("target")) + ".jsonl"), line)
    else:
        append(os.path.join(spool, "in_app", safe(item.get("tenant_id")) + ".jsonl"), line)


def run_once(spool):
    total_events = 0
    while True:
        rows = psql(f"SELECT payload::text FROM rollout.pending_events ORDER BY event_id LIMIT {BATCH}")
        if not rows:
            return total_events
        n = 0
        last = None
        for row in rows:
            event = json.loads(row)
            n += deliver(spool, event)
            last = event["event_id"]
        acked = psql(f"SELECT rollout.ack_events({int(last)})")
        print(f"delivered {len(rows)} events ({n} notifications), acked up to {last} ({acked[0]} rows)")
        total_events += len(rows)


def main():
    ap = argparse.ArgumentParser(description="deliver pg_rollout outbox events into a spool directory")
    ap.add_argument("spool")
    ap.add_argument("--once", action="store_true", help="deliver what is pending and exit")
    ap.add_argument("--interval", type=float, default=30.0, help="seconds between polls (default 30)")
    args = ap.parse_args()
    if args.once:
        run_once(args.spool)
        return 0
    while True:
        run_once(args.spool)
        time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())
