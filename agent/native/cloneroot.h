#ifndef BERTH_CLONEROOT_H
#define BERTH_CLONEROOT_H
/* clone-root STATEDIR TARGET: see cloneroot.c. */
int clone_root_main(const char *statedir, const char *target);
#endif
