# Shared helpers of the bench scripts (source it; it sets no options of its own).
#
#   bench_time KEY SETUP CMD   run SETUP untimed, sync, then CMD under GNU time; appends the
#                              wall seconds to SECS[KEY], keeps the highest peak RSS (KB) in
#                              RSS[KEY]. SETUP and CMD are bash strings (run with bash -c, so
#                              they see only exported variables). A failing step stops the
#                              script with its stderr.
#   bench_median LIST          the median of space-separated numbers (2 decimals)
#   bench_ratio A B            A/B with 2 decimals
#   bench_ge A B / bench_le    exit status of A >= B / A <= B (floating point)
#   bench_mb BYTES             BYTES in MB (10^6), no decimals
#   bench_machine              one line: cores, CPU model (and SHA-NI), memory, kernel
#   bench_load                 the 1-minute load average
#
# bench_time writes its scratch files to $BENCH_TMP (default /tmp).
declare -gA SECS RSS

bench_time() {
	local key=$1 setup=$2 cmd=$3 t=${BENCH_TMP:-/tmp} s kb
	if [ -n "$setup" ] && ! bash -c "set -e; $setup" >"$t/setup.$key" 2>&1; then
		echo "bench: setup of $key failed: $setup" >&2
		cat "$t/setup.$key" >&2
		exit 1
	fi
	sync
	if ! /usr/bin/time -f '%e %M' -o "$t/time.$key" bash -c "set -e -o pipefail; $cmd" >"$t/out.$key" 2>"$t/err.$key"; then
		echo "bench: $key failed: $cmd" >&2
		tail -n 20 "$t/err.$key" >&2
		exit 1
	fi
	read -r s kb < <(tail -n1 "$t/time.$key")
	SECS[$key]="${SECS[$key]:-} $s"
	[ "${RSS[$key]:-0}" -ge "$kb" ] || RSS[$key]=$kb
}

bench_median() {
	tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -g |
		awk '{a[NR]=$1} END{ if (NR == 0) exit 1; if (NR%2) m = a[(NR+1)/2]; else m = (a[NR/2]+a[NR/2+1])/2; printf "%.2f\n", m }'
}

bench_ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b <= 0) b = 0.01; printf "%.2f", a/b }'; }
bench_ge() { awk -v a="$1" -v b="$2" 'BEGIN{ exit !(a >= b) }'; }
bench_le() { awk -v a="$1" -v b="$2" 'BEGIN{ exit !(a <= b) }'; }
bench_mb() { awk -v b="$1" 'BEGIN{ printf "%.0f", b/1e6 }'; }

bench_machine() {
	local cpu
	cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	grep -qw sha_ni /proc/cpuinfo && cpu="$cpu, SHA-NI"
	printf '%s cores (%s), %s MB RAM, Linux %s' "$(nproc)" "${cpu:-unknown CPU}" \
		"$(awk '/^MemTotal/ { printf "%.0f", $2/1024 }' /proc/meminfo)" "$(uname -r)"
}

bench_load() { cut -d' ' -f1 /proc/loadavg; }
