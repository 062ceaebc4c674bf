#!/usr/bin/perl
# tools/build_update.pl UPDATE_SOURCE PIECE... — expand an upgrade script.
#
# An upgrade script under updates/ is written by hand, but a function it
# creates or replaces is not copied into it: a line
#
#     --@function rollout.name
#
# stands for that function's definition as the pieces under src/sql/ have
# it now (CREATE OR REPLACE FUNCTION ... $$;) followed by its COMMENT ON
# FUNCTION, so the upgrade and a fresh install cannot drift apart.  A line
#
#     --@include src/sql/area/file.sql
#
# stands for that whole piece (for an area or file that is new in the
# version, such as a new table file or a file of views).  Every other line
# is copied.  The Makefile runs this, then the @PGR_...@
# substitution.  A name that is not defined exactly once is an error.
use strict;
use warnings;

my ($update, @pieces) = @ARGV;
die "usage: $0 UPDATE_SOURCE PIECE...\n" unless defined $update && @pieces;

my $all = '';
for my $p (@pieces)
{
	open(my $fh, '<', $p) or die "$p: $!\n";
	local $/;
	$all .= <$fh>;
	close $fh;
}

open(my $in, '<', $update) or die "$update: $!\n";
while (my $line = <$in>)
{
	if ($line =~ /^--\@include\s+(src\/sql\/[A-Za-z0-9_\/.]+\.sql)\s*$/)
	{
		my $piece = $1;
		die "$update: $piece is not one of the pieces\n" unless grep { $_ eq $piece } @pieces;
		open(my $fh, '<', $piece) or die "$piece: $!\n";
		local $/;
		print <$fh>;
		close $fh;
	}
	elsif ($line =~ /^--\@function\s+(rollout\.[a-z0-9_]+)\s*$/)
	{
		my $fn = $1;
		my $name = quotemeta($fn);
		my @starts;
		push @starts, $-[0] while $all =~ /^CREATE FUNCTION $name\(/mg;
		die "$update: $fn is defined " . scalar(@starts) . " times in the pieces\n" unless @starts == 1;
		my $rest = substr($all, $starts[0]);
		my $def;
		# a body in dollar quotes ends at its closing tag; a C function at
		# the first semicolon that ends a line
		if ($rest =~ /\A(.*?)^AS (\$[a-z_]*\$)/ms && $1 !~ /;\n/)
		{
			my $tag = quotemeta($2);
			($def) = $rest =~ /\A(.*?\nAS $tag.*?$tag;\n)/s;
		}
		else
		{
			($def) = $rest =~ /\A(.*?;\n)/s;
		}
		die "$update: cannot find the end of $fn\n" unless defined $def;
		my $after = substr($rest, length($def));
		$def .= $1 if $after =~ /\A(COMMENT ON FUNCTION $name\((?:[^']|'')*?'(?:[^']|'')*'(?:\s*\|\|\s*'(?:[^']|'')*')*;\n)/s;
		$def =~ s/\ACREATE FUNCTION/CREATE OR REPLACE FUNCTION/;
		print $def;
	}
	else
	{
		print $line;
	}
}
close $in;
