// Package powercut proves lifeline's durability against a real kernel that
// loses its page cache (issue 14). Its tests boot a small Linux guest under
// QEMU (Debian's kernel, an initramfs of busybox, a static `lifeline` and
// the workload program in ./guest, a raw ext4 data disk), run the daemon
// with agent-sim and a random workload in it, and SIGKILL QEMU at a random
// moment: the guest loses everything its kernel had not flushed, exactly as
// a machine does when its power goes, while the host keeps the disk image
// as the guest's writes left it. A second boot from the same disk audits
// the cut:
//
//   - every record the guest reported before the cut (a command's answer,
//     or a committed record from the event stream) is in the log, with the
//     same data, in order;
//   - bbolt's page check and `lifeline replay verify` find nothing in the
//     database as the cut left it;
//   - the daemon opens it (there is no repair) and recovery settles every
//     VM, with a record saying why for each one that was live (a VM lost
//     is lost because the host rebooted: the boot id changed);
//   - every file reported as written (lima.yaml, lima-version, the blank
//     disk) exists whole, and every pid file left behind is whole.
//
// The suite runs only with LIFELINE_POWERCUT=1 (.ci/powercut.sh sets it
// after installing qemu-system-x86, e2fsprogs, busybox-static and
// linux-image-amd64); then a missing tool is a failure, not a skip.
// LIFELINE_POWERCUT_CUTS=N runs N cuts (default 3), each with its own
// printed seed; LIFELINE_POWERCUT_SEED=S replays the cut of seed S (the
// commands and the moment of the cut; the guest's scheduling is not
// replayed). LIFELINE_POWERCUT_KEEP=DIR keeps each cut's disk image,
// console and report files there.
package powercut
