/*
 * banned: path-based file-system calls are a compile error outside src/util (git's
 * banned.h trick).  Every path below --root goes through the confinement layer
 * (util/rootfs.h); the operator's own paths (-f sources, a plan file) through util/fs.h.
 * CMake force-includes this header into every object library but mr_util and mr_vcs (libgit2
 * opens repositories by path: the state repository is checked through rootfs by its
 * callers before it is opened, and a git: source is the operator's).
 *
 * The system headers that declare these functions are included first, so that the macros
 * below touch only the code that includes this file, never the declarations.
 */
#ifndef MR_UTIL_BANNED_H
#define MR_UTIL_BANNED_H

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define MR_BANNED(f) sorry_##f##_is_path_based_use_util_rootfs_h

#define open(...) MR_BANNED(open)
#define openat(...) MR_BANNED(openat)
#define creat(...) MR_BANNED(creat)
#define fopen(...) MR_BANNED(fopen)
#define freopen(...) MR_BANNED(freopen)
#define opendir(...) MR_BANNED(opendir)
#define mkdir(...) MR_BANNED(mkdir)
#define mkdirat(...) MR_BANNED(mkdirat)
#define rmdir(...) MR_BANNED(rmdir)
#define rename(...) MR_BANNED(rename)
#define renameat(...) MR_BANNED(renameat)
#define renameat2(...) MR_BANNED(renameat2)
#define unlink(...) MR_BANNED(unlink)
#define unlinkat(...) MR_BANNED(unlinkat)
#define link(...) MR_BANNED(link)
#define linkat(...) MR_BANNED(linkat)
#define symlink(...) MR_BANNED(symlink)
#define symlinkat(...) MR_BANNED(symlinkat)
#define readlink(...) MR_BANNED(readlink)
#define readlinkat(...) MR_BANNED(readlinkat)
#define chown(...) MR_BANNED(chown)
#define lchown(...) MR_BANNED(lchown)
#define fchownat(...) MR_BANNED(fchownat)
#define chmod(...) MR_BANNED(chmod)
#define fchmodat(...) MR_BANNED(fchmodat)
#define stat(...) MR_BANNED(stat)
#define lstat(...) MR_BANNED(lstat)
#define fstatat(...) MR_BANNED(fstatat)
#define access(...) MR_BANNED(access)
#define faccessat(...) MR_BANNED(faccessat)
#define truncate(...) MR_BANNED(truncate)
#define realpath(...) MR_BANNED(realpath)
#define mkdtemp(...) MR_BANNED(mkdtemp)
#define mkstemp(...) MR_BANNED(mkstemp)
#define nftw(...) MR_BANNED(nftw)
#define ftw(...) MR_BANNED(ftw)
#define utimes(...) MR_BANNED(utimes)
#define utimensat(...) MR_BANNED(utimensat)
#define mkfifo(...) MR_BANNED(mkfifo)
#define mknod(...) MR_BANNED(mknod)

#endif
