/*
 * What the parts of berth-monitor share: the configuration, the failure helpers and the
 * hooks between the files. Each .c file says at its top what it owns:
 *
 *   main.c      command dispatch (run, exec, mount-overlay, umount, layer-fixup, xattr-get)
 *   common.c    failure helpers (die), state files written atomically, small utilities
 *   config.c    strict reading of monitor.conf / exec confs: every key known or refused
 *   log.c       the json-file writer (Docker's line format, 16 KiB pieces, rotation)
 *   loop.c      `run`: detach, own cgroups and OOM guard, clone the init, the event loop
 *   control.c   the control socket (server in the monitor, client for `exec`)
 *   init.c      the container's init between clone and execve
 *   rootfs.c    the mount plan: rootfs, mounts, devices, symlinks, masked/read-only paths
 *   copytree.c  copy-up: an image directory's content into a new volume
 *   security.c  users and groups, capabilities, no_new_privs, rlimits, sysctls, oom_score_adj
 *   seccomp.c   the seccomp filter: built from the agent's rules with libseccomp, loaded last
 *   reaper.c    `--init`: PID 1 that forwards signals and reaps zombies (Docker's docker-init)
 *   exec.c      execve with Docker's PATH rules, and the `exec` subcommand
 *   pty.c       TTYs made in the container's devpts, and passing descriptors (SCM_RIGHTS)
 *   layerfix.c  layer-fixup and xattr-get (layer unpacking helpers; no container involved)
 */
#ifndef BERTH_MONITOR_H
#define BERTH_MONITOR_H
#define _GNU_SOURCE
#include <stddef.h>
#include <sys/types.h>

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define CONTROL_SOCKET "control.sock"

struct strv { char **v; int n; };

/* One entry of the mount plan, OCI-style; `options` are parsed by rootfs_check(). */
struct plan_mount {
	char *dest, *type, *source, *options;
	/* filled by rootfs_check() */
	unsigned attr_set, attr_clr;  /* MOUNT_ATTR_* */
	unsigned long propagation;     /* MS_PRIVATE, MS_SHARED, … or 0 */
	int bind, recursive;
	struct strv data;              /* filesystem options, "key" or "key=value" */
};
struct plan_device { char *path; char type; unsigned major, minor, mode, uid, gid; int set; };
struct plan_symlink { char *path, *target; };
/* A seccomp rule as the agent sends it; seccomp.c parses and checks the strings. */
struct seccomp_rule { char *action; struct strv syscalls, args; };

struct conf {
	char *rootfs, *overlay, *hostname, *user, *cwd, *log;
	int newnet;
	int oom_score_adj;            /* the container's processes */
	int monitor_oom_score_adj, has_monitor_oom;
	unsigned long long caps;      /* kept capabilities (bounding set; root's effective set) */
	struct strv env, argv, cgroups, monitor_cgroups, masked, readonly;
	struct plan_mount *mounts;
	int nmounts;
	struct plan_device *devices;
	int ndevices;
	struct plan_symlink *symlinks;
	int nsymlinks;
	/* Isolation (security.c, seccomp.c, rootfs.c): namespaces, hardening, kernel settings. */
	int newpid, newipc, newuts;   /* 1 unless the agent says "host" */
	int no_new_privs, readonly_rootfs;
	char *seccomp;                /* the filter's default action; NULL: no filter */
	char *seccomp_cache;          /* where the compiled program is kept (seccomp.c) */
	struct strv seccomp_arches, seccomp_flags, rlimits, sysctls;
	struct seccomp_rule *seccomp_rules;
	int nseccomp_rules;
	/* Processes and terminals: a TTY (tty=1) of tty_rows x tty_cols (0: the kernel's),
	 * stdin open for the control socket's `stdin` (stdin=open), groups added (group_add=). */
	int tty, open_stdin;
	int attached;                 /* exec: dies with the agent (attached=1) */
	unsigned short tty_rows, tty_cols;
	struct strv group_add;
	/* Log rotation (log.c): at max_size bytes (0: never), keeping max_file files. */
	long long log_max_size;
	int log_max_file;
};
extern struct conf cf;

/* ---- common.c ---- */

/* How die() reports: the monitor to its state files and log, the init through its
 * error pipe (the monitor writes it to `error`), a command-line tool on stderr. */
enum report { AS_MONITOR, AS_INIT, AS_CLI };
extern enum report report_as;
extern int init_errfd;
/* Called by die() in the monitor before it records the failure (kills a half-started init). */
extern void (*die_cleanup)(void);

/* "<message>: <strerror(e)>" (no suffix when e is 0), reported as report_as says; the
 * monitor exits 1 after writing `error` and `exit` <code>, the others exit <code>. */
void __attribute__((noreturn, format(printf, 3, 4))) die(int code, int e, const char *fmt, ...);
void strv_push(struct strv *s, char *v);
void *xrealloc(void *p, size_t n);
void now_rfc3339(char *buf, size_t len);
/* Replaces NAME in the cwd (the state dir) durably; -1 with errno on failure. */
int write_atomic(const char *name, const char *data);
/* The same, fsynced only when `durable`. */
int write_state(const char *name, const char *data, int durable);
void write_exit(int code);
/* Writes all of buf; -1 with errno. */
int write_all(int fd, const void *buf, size_t n);

/* ---- config.c ---- */
enum conf_kind { CONF_RUN, CONF_EXEC };
void read_conf(const char *path, enum conf_kind kind);

/* ---- log.c ---- */
#define LOG_LINE_MAX 16384 /* Docker's json-file splits longer lines at 16 KiB */
struct stream { int fd; const char *name; size_t len; char buf[LOG_LINE_MAX]; };
void exit_reserve(void);
void log_open(const char *path);
void log_line(const char *stream, const char *data, size_t n);
/* Splits what a stream read into log lines; log_flush writes a partial last line. */
void log_feed(struct stream *s, const char *p, size_t n);
void log_flush(struct stream *s);

/* ---- rootfs.c ---- */
/* Parses and checks the plan's options (in the monitor, before anything is cloned). */
void rootfs_check(void);
/* In the init: mount the rootfs, carry out the plan, pivot_root into it. */
void rootfs_setup(void);
/* mount-in ROOT DEST TYPE SOURCE OPTIONS (argv from ROOT on; "" for no source or options). */
int mount_in_main(char **argv);
/* During rootfs_setup: PATH opened inside the new root, no symlink followed; -1 with errno. */
int rootfs_open(const char *path, int flags);

/* ---- copytree.c ---- */
/* copy-up SRC DST [nodev]: see copytree.c. */
int copy_up_main(int argc, char **argv);

/* ---- security.c ---- */
void drop_bounding_caps(void);
/* Becomes the configured user (see security.c for Docker's rules); dies with `code`. */
uid_t switch_user(struct strv *env, int code);
void set_caps(uid_t uid);
/* Writes /proc/self/oom_score_adj; dies with `code` on failure. */
void set_oom_score_adj(int value, int code);
/* Checks rlimit= and sysctl= values (in the monitor and in exec, before anything runs). */
void security_check(void);
/* During rootfs_setup, before masked and read-only paths: sysctl= into the container's /proc/sys. */
void write_sysctls(void);
/* Before the user switch and the capability drop: rlimits, no_new_privs, and the seccomp
 * filter when no_new_privs is off (loading it then takes CAP_SYS_ADMIN). Dies with `code`. */
void harden_early(int code);
/* Last before execve: the seccomp filter under no_new_privs. Dies with `code`. */
void harden_late(int code);
/* In the monitor once the init is reaped: with the host's PID namespace nothing ends the
 * container's other processes (a namespace of its own dies with its PID 1), so this kills
 * what is left in its cgroups, as containerd does for such containers. */
void kill_leftovers(void);

/* ---- seccomp.c ---- */
/* Builds the filter from cf (before anything is cloned, so a bad rule fails the start). */
void seccomp_prepare(void);
/* Loads the prepared filter into this process; 0 or an errno. */
int seccomp_install(void);

/* ---- reaper.c ---- */
/* argv: [.., "--", CMD, ARGS…] (or CMD at once): run CMD under a reaping, forwarding PID 1. */
int reaper_main(int argc, char **argv);

/* ---- exec.c ---- */
void __attribute__((noreturn)) exec_cmd(char **argv, char **envp, int code_notfound, int code_other);
int exec_main(const char *statedir, const char *conf);

/* ---- pty.c ---- */
/* Marks every descriptor from 3 up close-on-exec: what the agent inherited stays out of containers. */
void cloexec_inherited(int code);
/* The master of a new pty in /dev/pts (the caller's root); *slave its peer. Dies with `code`. */
int pty_open(int code, unsigned short rows, unsigned short cols, int *slave);
/* TIOCSWINSZ unless a size is 0; -1 with errno. */
int pty_resize(int master, unsigned short rows, unsigned short cols);
/* A new session with `slave` as its controlling terminal on fds 0, 1 and 2. */
void pty_make_controlling(int code, int slave);
/* One descriptor over a unix socket; -1 with errno. */
int send_fd(int sock, int fd);
int recv_fd(int sock);

/* ---- init.c ---- */
/* The pipes between the monitor and its init (fds in the monitor's table): in is the
 * container's stdin with stdin=open, console the socketpair the TTY's master comes back on. */
struct init_pipes { int devnull, in[2], out[2], err[2], errmsg[2], sync[2], console[2]; };
extern struct init_pipes ip;
int init_main(void *arg);

/* ---- loop.c: what the control socket may ask of the container ---- */
int run_main(const char *statedir);
/* 0, or an errno: ESRCH when the init has been reaped (its pid may be anyone's now). */
int container_kill(int sig);
/* The init's pidfd, or -1 when it has been reaped. */
int container_pidfd(pid_t *pid);
/* Lets the init go on; EALREADY when it was released before. */
int container_release(void);
/* "created <pid>", "running <pid>" or "exited <code>". */
void container_state(char *buf, size_t len);
/* 0, or an errno: ENOTTY without a TTY. Before the TTY exists, the size is kept for it. */
int container_resize(unsigned short rows, unsigned short cols);
/* Where the `stdin` connection's bytes go: the stdin pipe or the TTY's master; -1 when
 * stdin is not open (or was closed). container_close_stdin: the attached client's EOF. */
int container_stdin_fd(void);
void container_close_stdin(void);

/* ---- control.c ---- */
#define CONTROL_MAX_CLIENTS 16
int control_listen(void);
/* The fds the loop polls: the listener and each client (-1 for free slots). */
int control_fds(int *fds, int max);
/* The events to poll each of control_fds for. */
short control_events(int fd);
/* Called when poll says `fd` (one of control_fds) is ready (revents). */
void control_ready(int fd, short revents);
/* Output for attached clients (`attach`): a frame per stream read. */
void control_output(int stream, const char *data, size_t n);
/* Whether an attached client still has output to take: the loop reads no more meanwhile. */
int control_output_pending(void);
/* The stdin connection has input waiting for its target to take it. */
int control_stdin_pending(void);
/* The target (container_stdin_fd) is writable again. */
void control_stdin_writable(void);
void control_close_all(void);
/* Client side: one request, one reply line ("ok …" / "error …") without the newline;
 * *fd_out receives a passed descriptor (or -1). -1 with errno when the monitor is gone. */
int control_call(const char *statedir, const char *req, char *reply, size_t len, int *fd_out);
#endif
