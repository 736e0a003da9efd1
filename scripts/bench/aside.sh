#!/bin/sh
# hyperfine --prepare step of scripts/bench.sh: moves the previous run's output directory OUT
# into TRASH (a directory on the same filesystem) instead of deleting it. A rename is O(1);
# `rm -rf` of thousands of files is not, and on ext4 without a journal it also makes the
# file creations of the next few minutes pay seconds of kernel time (freed inodes are not
# reused for 60-300 s and are skipped one by one), i.e. it would be charged to whichever
# command is timed next. bench.sh deletes TRASH once, after all timing.
# Usage: aside.sh OUT TRASH
[ -e "$1" ] || [ -L "$1" ] || exit 0
mkdir -p "$2" && exec mv -T -- "$1" "$(mktemp -u -p "$2" run.XXXXXXXXXX)"
