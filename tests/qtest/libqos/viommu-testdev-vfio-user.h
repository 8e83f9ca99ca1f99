/*
 * The out-of-process viommu-testdev (viommu-testdev-vfio-user) from
 * qtests: start it, plug it with -device vfio-user-pci, stop it
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LIBQOS_VIOMMU_TESTDEV_VFIO_USER_H
#define LIBQOS_VIOMMU_TESTDEV_VFIO_USER_H

typedef struct QVfioUserServer {
    GPid pid;
    char *dir;          /* a directory of its own, for the socket */
    char *sock;
    char *pidfile;
} QVfioUserServer;

/*
 * Start the server with @args (its options, or NULL) on a socket in a
 * fresh directory; return once it listens.  The binary is
 * $QTEST_VIOMMU_TESTDEV_VFIO_USER, or the one this build made.  It dies
 * with the test.
 */
void qvus_start(QVfioUserServer *srv, const char *args);
/* Stop it (SIGTERM) and assert that it exits with status 0 */
void qvus_stop(QVfioUserServer *srv);
/* Kill it (SIGKILL), as a crash would */
void qvus_kill(QVfioUserServer *srv);
/* The -device option that plugs its device, with @props (JSON members) */
char *qvus_device(const QVfioUserServer *srv, const char *props);

#endif
