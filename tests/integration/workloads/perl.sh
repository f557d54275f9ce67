#!/usr/bin/env bash
# perl: hashes, regular expressions, sort.
set -eu
perl -e '
use strict; use warnings;
my %h;
for my $i (1 .. 200000) { $h{"key$i"} = $i * 3; }
my $sum = 0; $sum += $_ for values %h;
print "hash ", scalar(keys %h), " $sum\n";
delete $h{"key$_"} for grep { $_ % 3 } 1 .. 200000;
print "after delete ", scalar(keys %h), "\n";
my @words = map { "w" . (($_ * 7919) % 100003) . "x" . ($_ % 17) } 1 .. 100000;
my @sorted = sort { $a cmp $b } @words;
print "sort $sorted[0] $sorted[-1] ", scalar(@sorted), "\n";
my @nums = sort { $b <=> $a } map { ($_ * 104729) % 1000003 } 1 .. 100000;
print "numsort @nums[0..4]\n";
my $text = join(" ", @words);
my $n = () = $text =~ /w(\d+)x1[0-6]/g;
print "matches $n\n";
(my $t2 = $text) =~ s/(\d+)x(\d+)/$2y$1/g;
print "subst ", length($t2), " ", substr($t2, 0, 40), "\n";
my %count; $count{length $_}++ for @words;
print join(",", map { "$_=$count{$_}" } sort { $a <=> $b } keys %count), "\n";
my $s = ""; $s .= chr(65 + $_ % 26) for 1 .. 1000000;
print "string ", length($s), " ", ($s =~ tr/A//), "\n";
'
