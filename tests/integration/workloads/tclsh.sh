#!/usr/bin/env bash
# tclsh: dicts, lists, strings, regexp, lsort.
set -eu
tclsh <<'TCL'
set d [dict create]
for {set i 0} {$i < 100000} {incr i} { dict set d "k$i" [expr {$i * 3}] }
set sum 0
dict for {k v} $d { incr sum $v }
puts "dict [dict size $d] $sum"
set l {}
for {set i 0} {$i < 100000} {incr i} { lappend l [expr {($i * 7919) % 100003}] }
set s [lsort -integer $l]
puts "lsort [lindex $s 0] [lindex $s end] [llength $s]"
set text [join [lrange $l 0 20000] " "]
puts "regexp [regexp -all {\m1\d*7\M} $text]"
regsub -all {(\d)(\d)} $text {\2\1} t2
puts "regsub [string length $t2] [string range $t2 0 30]"
set str ""
for {set i 0} {$i < 200000} {incr i} { append str [format %c [expr {97 + $i % 26}]] }
puts "string [string length $str] [string first zab $str] [string map {a A} [string range $str 0 27]]"
array set a {}
foreach w [split [string repeat "alpha beta gamma delta " 20000]] { if {$w ne ""} { incr a($w) } }
puts "array [lsort [array names a]] $a(beta)"
TCL
