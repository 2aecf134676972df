/* SPDX-License-Identifier: MIT */
/*
 * tool.h - what the parts of mapfs-tool share (tool.c: opening, paths,
 * the verbs on the image; toolget.c: copying out; toolput.c: copying in).
 * Not part of the core: these print (to stderr, naming the path) and
 * count failures in struct tool.
 */
#ifndef MAPFS_TOOL_H
#define MAPFS_TOOL_H

#include "mapfs.h"

#include <stdbool.h>

#define TOOL_PROG	"mapfs-tool"
#define TOOL_BUF	(1u << 20)	/* bytes copied at a time */
#define TOOL_MAX_DEPTH	4096		/* directories nested, walking trees */

struct tool {
	const char *image;
	struct mapfs_region region;	/* -o offset=,size= (0, 0: the file) */
	struct mapfs_fs *fs;
	struct mapfs_cred cr;	/* owner of what we create */
	bool root;		/* running as root: owners are copied out */
	bool rw;		/* opened read-write (journal, marked mounted) */
	bool failed;		/* an operation failed: exit 1 */
	bool dead;		/* the journal failed: change nothing more */
};

/* One directory entry, for listings in name order. */
struct tool_name {
	char *name;
	mapfs_ino_t ino;
	uint32_t type;
};
struct tool_names {
	struct tool_name *v;
	size_t n, cap;
};

/* Say "mapfs-tool: PATH: strerror" and mark the run failed; returns err. */
int tool_fail(struct tool *t, const char *path, int err);
/* Resolve an image path from the root; follow: a symlink in the last
 * component too. 0 or -errno. */
int tool_resolve(struct tool *t, const char *path, bool follow,
		 mapfs_ino_t *inop);
/* The parent directory (resolved) and last name of path; -EINVAL for
 * the root, "." and "..". */
int tool_parent(struct tool *t, const char *path, mapfs_ino_t *dirp,
		char name[MAPFS_NAME_MAX + 1]);
/* dir's entries in name order (without "." and ".." unless dots);
 * free with tool_names_free. */
int tool_list(struct tool *t, const struct mapfs_inode *dir, bool dots,
	      struct tool_names *l);
void tool_names_free(struct tool_names *l);
/* One operation's bracket: begin; end returns err, or the journal's
 * error (then t->dead: nothing more is changed). */
int tool_begin(struct tool *t);
int tool_end(struct tool *t, int err);
/* Write [off, off+len) of regular file ip (clipped at EOF; holes as
 * zeros) to fd straight from the image's mapping, at offset off of fd
 * (at_off) or at its current position. Bytes of the file written, 0 at
 * EOF, or -errno (of the core, or of the write). */
#define TOOL_IOV	64
ssize_t tool_write_range(struct mapfs_fs *fs, const struct mapfs_inode *ip,
			 uint64_t off, size_t len, int fd, bool at_off);

/* The verbs get [-r] PATH HOSTPATH and put [-r] HOSTPATH PATH (argv[0]
 * is the verb). 0, or -errno after saying why. */
int tool_get(struct tool *t, int argc, char **argv);
int tool_put(struct tool *t, int argc, char **argv);

#endif
