#ifndef BERTH_LAYERFIX_H
#define BERTH_LAYERFIX_H
/* berth-monitor layer-fixup ROOT: xattrs and device nodes for a layer being unpacked. */
int layer_fixup(const char *root);
/* berth-monitor xattr-get NAME: one attribute of many paths. */
int xattr_get(const char *name);
#endif
