# Helpers shared by the bench scripts (sourced, not run). The caller sets TMP to a scratch folder.

# One run, output to /dev/null: appends "wall_ms cpu_ms rss_kb" to file $1.
# CPU (user+sys) is printed too: on a busy machine wall time measures the neighbours.
measure() {
  local into=$1; shift
  /usr/bin/time -f "%e %U %S %M" -o "$TMP/t" "$@" >/dev/null
  awk '{printf "%d %d %d\n", $1 * 1000, ($2 + $3) * 1000, $4}' "$TMP/t" >> "$into"
}

# Median of column $2 of file $1.
median() {
  awk -v c="$2" '{print $c}' "$1" | sort -n |
    awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'
}

# Largest value of column $2 of file $1.
maximum() { awk -v c="$2" 'BEGIN {m = 0} $c > m {m = $c} END {print m}' "$1"; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0) ? a / b : 0}'; }
