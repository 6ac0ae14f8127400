#!/bin/sh
# demo.sh - the main job in one command: two producer processes and two
# consumer processes exchange messages over a bus; then two members of a
# consumer group share the queues of a topic; then shmq-stat shows the
# topics, queues, clients, groups and store.  Uses a throw-away store under
# $TMPDIR (or set SHMQ_HOME to keep it) and the programs built in this tree.
#
#	examples/demo.sh [MESSAGES_PER_PRODUCER]
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-5000}
keep=${SHMQ_HOME:+yes}
export SHMQ_HOME=${SHMQ_HOME:-$(mktemp -d "${TMPDIR:-/tmp}/shmq-demo.XXXXXX")}
export SHMQ_BUS=demo
for p in examples/producer examples/consumer utils/shmq-stat utils/shmq-send \
    utils/shmq-recv; do
	if [ ! -x "$top/$p" ]; then
		echo "demo: $p is not built: run ./bootstrap && make first" >&2
		exit 1
	fi
done
cleanup() { [ -n "$keep" ] || rm -rf "$SHMQ_HOME"; }
trap cleanup EXIT

echo "== bus \"$SHMQ_BUS\" in $SHMQ_HOME"
printf 'hello from the shell\n' |
    "$top/utils/shmq-send" -t orders --create-queues 4 --tag greeting
total=$((2 * n + 1))
echo "== 2 consumers (separate processes) waiting for $total messages each"
"$top/examples/consumer" -t orders -n "$total" --from first > "$SHMQ_HOME/c1.out" &
c1=$!
"$top/examples/consumer" -t orders -n "$total" --from first > "$SHMQ_HOME/c2.out" &
c2=$!
echo "== 2 producers sending $n messages each"
"$top/examples/producer" -t orders -n "$n" -i 1 &
p1=$!
"$top/examples/producer" -t orders -n "$n" -i 2 &
p2=$!
wait $p1 $p2
wait $c1 $c2
for f in c1 c2; do
	head -n 3 "$SHMQ_HOME/$f.out" | sed "s/^/  $f: /"
	echo "  $f: ..."
	tail -n 1 "$SHMQ_HOME/$f.out" | sed "s/^/  $f: /"
done
echo "== consumer group \"billing\": 2 members share the 4 queues of orders"
for m in 1 2; do
	"$top/utils/shmq-recv" -t orders -g billing -w 1000 -v \
	    > "$SHMQ_HOME/g$m.out" 2> "$SHMQ_HOME/g$m.err" &
	eval g$m=\$!
done
sleep 0.5	# both have joined; a new group starts at the tail ("last")
"$top/utils/shmq-send" -t orders -m 'for the group' -c 4000 -q
wait $g1 $g2
for m in 1 2; do
	echo "  member $m: $(cat "$SHMQ_HOME/g$m.err")"
done
echo "== shmq-stat"
"$top/utils/shmq-stat"
