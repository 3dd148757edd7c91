// Package fsops is the one place where the store's file operations whose
// durability differs from the rest are made: creating files and
// directories, removing and renaming them, and syncing files (fsync,
// fdatasync) and directories. The segment store and the raft store (its
// state file, markers and partition directories) both go through it.
//
// Writes (pwrite, ftruncate, fallocate, stores into a mapping) need no
// seam: their effect is in the file, and what a power cut keeps of it is
// decided by the syncs around it.
//
// The power-loss tests (see package crashfs) set an Observer to record
// what a crash at any point could leave on disk. It is nil in production,
// where each operation pays one atomic load beside its system call;
// nothing on the append path (pwrite, mapping reads) goes through it.
package fsops
