/*
 * berth-monitor: the per-container monitor and the host-side helpers Node cannot do.
 *
 *   berth-monitor run STATEDIR              a container's monitor (loop.c); config in
 *                                           STATEDIR/monitor.conf (config.c)
 *   berth-monitor exec STATEDIR CONF        a command in the running container of STATEDIR
 *                                           (exec.c); stdio and exit code pass through
 *   berth-monitor mount-overlay TARGET DATA host-side overlay mount (build, commit, cp)
 *   berth-monitor umount TARGET             lazy unmount
 *   berth-monitor layer-fixup ROOT          xattrs and device nodes of a layer (layerfix.c)
 *   berth-monitor xattr-get NAME            one xattr of many paths (layerfix.c)
 *   berth-monitor clone-root STATEDIR TARGET a running container's root mount on TARGET (cloneroot.c)
 *   berth-monitor mount-in ROOT DEST TYPE SOURCE OPTIONS  one mount, DEST resolved inside ROOT (rootfs.c)
 *   berth-monitor copy-up SRC DST [nodev]   an image directory's content into an empty volume (copytree.c)
 *   berth-monitor init -- CMD [ARG…]        PID 1 of a `--init` container (reaper.c); also
 *                                           when called as docker-init, where the plan binds it
 */
#include "monitor.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>

#include "cloneroot.h"
#include "layerfix.h"

int main(int argc, char **argv)
{
	const char *self = argc > 0 ? strrchr(argv[0], '/') : NULL;
	if (argc > 0 && !strcmp(self ? self + 1 : argv[0], "docker-init")) return reaper_main(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "init")) return reaper_main(argc, argv);
	if (argc == 3 && !strcmp(argv[1], "run")) return run_main(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "exec")) return exec_main(argv[2], argv[3]);
	if (argc == 4 && !strcmp(argv[1], "mount-overlay")) {
		if (mount("overlay", argv[2], "overlay", 0, argv[3]) < 0) die(1, errno, "berth-monitor: mount overlay on %s", argv[2]);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "umount")) {
		if (umount2(argv[2], MNT_DETACH) < 0) die(1, errno, "berth-monitor: umount %s", argv[2]);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "layer-fixup")) return layer_fixup(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "xattr-get")) return xattr_get(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "clone-root")) return clone_root_main(argv[2], argv[3]);
	if (argc == 7 && !strcmp(argv[1], "mount-in")) return mount_in_main(argv + 2);
	if ((argc == 4 || argc == 5) && !strcmp(argv[1], "copy-up")) return copy_up_main(argc - 2, argv + 2);
	fprintf(stderr, "usage: berth-monitor run STATEDIR | exec STATEDIR CONF | mount-overlay TARGET DATA | umount TARGET | layer-fixup ROOT | xattr-get NAME | clone-root STATEDIR TARGET | mount-in ROOT DEST TYPE SOURCE OPTIONS | copy-up SRC DST [nodev]\n");
	return 2;
}
