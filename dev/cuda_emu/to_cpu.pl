#!/usr/bin/perl
# to_cpu.pl: rewrites a .cu file of ours for the whole-trainer emulation
# (dev/cuda_emu/run.sh): kernel<<<grid, block[, smem]>>>(args); becomes
# emu_launch_grid(grid, block, smem, [&] { kernel(args); }); the kernels'
# dynamic shared memory becomes the emulator's; matmul_lt becomes
# matmul_lt_emu.inc; includes of our .cu files point at their rewritten copies.
use strict;
use warnings;
local $/;
my $src = <STDIN>;

# split at the commas outside parentheses
sub top_split {
    my ($s) = @_;
    my @out; my $depth = 0; my $cur = '';
    for my $c (split //, $s) {
        $depth++ if $c eq '(';
        $depth-- if $c eq ')';
        if ($c eq ',' && $depth == 0) { push @out, $cur; $cur = ''; next; }
        $cur .= $c;
    }
    push @out, $cur;
    return @out;
}
$src =~ s{([A-Za-z_]\w*(?:<[^<>;]*>)?)<<<(.*?)>>>\((.*?)\);}{
    my ($k, $cfg, $args) = ($1, $2, $3);
    my @c = top_split($cfg);
    my $smem = @c > 2 ? $c[2] : '0';
    "emu_launch_grid($c[0], $c[1], $smem, [&] { $k($args); });"
}gse;
$src =~ s{extern __shared__ __align__\(128\) unsigned char smem\[\];}{unsigned char *smem = g_smem;}g;
$src =~ s{\nstatic int matmul_lt\(.*?\n\}\n}{\n#include "matmul_lt_emu.inc"\n}s
    or die "to_cpu.pl: matmul_lt not found\n" if $src =~ /static int matmul_lt\(/;
$src =~ s{#include "\.\./train\.cu"}{#include "train_cpu.cpp"}g;
print $src;
