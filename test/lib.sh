# Shared by the shell tests: test files written with perl (always on Debian),
# so no Python is needed.
#   source test/lib.sh
# ok NAME / bad NAME: one `OK   NAME` or `FAIL NAME` line, counted in pass / fail
pass=0; fail=0
ok()  { echo "OK   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }
write_tokens() {  # write_tokens PATH NTOK VOCAB [MAGIC]: llm.c token shard of random ids
    perl -e 'my ($path,$n,$v,$magic)=@ARGV; srand(1); open(my $f,">:raw",$path) or die;
             print $f pack("l<256",$magic,1,$n,(0)x253);
             print $f pack("S<*", map { int(rand($v)) } 1..$n); close $f;' "$1" "$2" "$3" "${4:-20240520}"
}
write_model() {  # write_model PATH L NH C V maxT [VERSION] [TRUNCATE_BYTES]: random fp32 model
    perl -e 'my ($path,$L,$NH,$C,$V,$T,$ver,$cut)=@ARGV; srand(2);
             my $Vp=int(($V+127)/128)*128;
             my $n=$Vp*$C+$T*$C+$L*(12*$C*$C+13*$C)+2*$C;
             my @p=map { (rand()-0.5)*0.04 } 1..$n;
             open(my $f,">:raw",$path) or die;
             print $f pack("l<256",20240326,$ver,$T,$V,$L,$NH,$C,$Vp,(0)x248);
             my $bytes=pack("f<*",@p); $bytes=substr($bytes,0,length($bytes)-$cut);
             print $f $bytes; close $f;' "$1" "$2" "$3" "$4" "$5" "$6" "${7:-3}" "${8:-0}"
}

