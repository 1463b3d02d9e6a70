#!/usr/bin/perl
# cudaemu: rewrites a CUDA source so that it compiles as C++ against include/ (see include/cuda_runtime.h):
#   kernel<<<grid, block, smem, stream>>>(args)   ->  plc_emu::Launch(grid, block, smem, stream).go(kernel, "kernel")(args)
#   extern __shared__ [__align__(n)] T name[];    ->  T *name = (T *)plc_emu_dynamic_smem();
# Usage: transform.pl IN OUT
use strict;
use warnings;
my ($in, $out) = @ARGV;
die "usage: transform.pl IN OUT\n" unless defined $out;
open(my $fh, '<', $in) or die "transform.pl: $in: $!\n";
local $/;
my $src = <$fh>;
close $fh;
my $n = ($src =~ s/\b([A-Za-z_]\w*(?:\s*<[^<>;()]*>)?)\s*<<<(.*?)>>>\s*\(/plc_emu::Launch($2).go($1, "$1")(/gs);
$src =~ s/extern\s+__shared__\s+(?:__align__\(\s*\d+\s*\)\s*)?(\w+)\s+(\w+)\s*\[\s*\]\s*;/$1 *$2 = ($1 *)plc_emu_dynamic_smem();/g;
die "transform.pl: $in still has a launch the rewrite did not understand\n" if $src =~ /<<</;
open(my $oh, '>', "$out.tmp") or die "transform.pl: $out: $!\n";
print $oh "#line 1 \"$in\"\n", $src;
close $oh;
rename("$out.tmp", $out) or die "transform.pl: $out: $!\n";
