/*
 * The out-of-process viommu-testdev from qtests; see
 * viommu-testdev-vfio-user.h
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <sys/prctl.h>
#include <sys/wait.h>
#include "viommu-testdev-vfio-user.h"

static const char *qvus_binary(void)
{
    const char *path = getenv("QTEST_VIOMMU_TESTDEV_VFIO_USER");

    return path ? path : VIOMMU_TESTDEV_VFIO_USER;
}

/* A server whose test dies goes with it, as QEMU does (exit-with-parent) */
static void qvus_child_setup(gpointer opaque)
{
    prctl(PR_SET_PDEATHSIG, SIGTERM);
}

void qvus_start(QVfioUserServer *srv, const char *args)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *cmd = NULL;
    g_auto(GStrv) argv = NULL;
    gint64 deadline;

    srv->dir = g_dir_make_tmp("vfio-user-test-XXXXXX", &err);
    g_assert_no_error(err);
    srv->sock = g_build_filename(srv->dir, "sock", NULL);
    srv->pidfile = g_build_filename(srv->dir, "pid", NULL);
    cmd = g_strdup_printf("%s --socket %s --pidfile %s %s", qvus_binary(),
                          srv->sock, srv->pidfile, args ? args : "");
    g_shell_parse_argv(cmd, NULL, &argv, &err);
    g_assert_no_error(err);
    g_spawn_async(NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                  qvus_child_setup, NULL, &srv->pid, &err);
    g_assert_no_error(err);

    /* The pidfile appears once the socket listens */
    deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (!g_file_test(srv->pidfile, G_FILE_TEST_EXISTS)) {
        g_assert_cmpint(waitpid(srv->pid, NULL, WNOHANG), ==, 0);
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(10 * 1000);
    }
}

static void qvus_cleanup(QVfioUserServer *srv)
{
    unlink(srv->sock);
    unlink(srv->pidfile);
    rmdir(srv->dir);
    g_free(srv->sock);
    g_free(srv->pidfile);
    g_free(srv->dir);
    srv->pid = 0;
}

void qvus_stop(QVfioUserServer *srv)
{
    int status;

    if (!srv->pid) {
        return;
    }
    g_assert_cmpint(kill(srv->pid, SIGTERM), ==, 0);
    g_assert_cmpint(waitpid(srv->pid, &status, 0), ==, srv->pid);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 0);
    qvus_cleanup(srv);
}

void qvus_kill(QVfioUserServer *srv)
{
    int status;

    g_assert_cmpint(kill(srv->pid, SIGKILL), ==, 0);
    g_assert_cmpint(waitpid(srv->pid, &status, 0), ==, srv->pid);
    qvus_cleanup(srv);
}

char *qvus_device(const QVfioUserServer *srv, const char *props)
{
    return g_strdup_printf("-device '{\"driver\":\"vfio-user-pci\","
                           "\"socket\":{\"type\":\"unix\",\"path\":\"%s\"}"
                           "%s%s}'", srv->sock, props ? "," : "",
                           props ? props : "");
}
