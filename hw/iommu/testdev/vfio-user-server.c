/*
 * The server side of the vfio-user protocol; see vfio-user-server.h
 *
 * Written from docs/interop/vfio-user.rst.  Where the specification and
 * QEMU's client differ, this follows the specification and says so.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <sys/socket.h>
#include <sys/un.h>
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qemu/interval-tree.h"
#include "qemu/main-loop.h"
#include "qemu/queue.h"
#include "qemu/sockets.h"
#include "qemu/thread.h"
#include "qemu/timer.h"
#include "qobject/qdict.h"
#include "qobject/qjson.h"
#include "qobject/qnum.h"
#include "hw/vfio-user/protocol.h"
#include "vfio-user-server.h"
#include "trace.h"

/* What this server offers in the version handshake */
#define VUS_MAX_FDS             8
#define VUS_MAX_XFER            (1024 * 1024)
#define VUS_MAX_DMA_REGIONS     65535
#define VUS_PAGE_SIZE           4096
/* Any power of two from 4 KiB up: a region is mapped at its own size */
#define VUS_PGSIZES             (~(uint64_t)(VUS_PAGE_SIZE - 1))
/* The largest message accepted: a region write of VUS_MAX_XFER bytes */
#define VUS_MAX_MSG             (VUS_MAX_XFER + 64)
#define VUS_DMA_TIMEOUT_MS      5000

/* The DMA_READ/DMA_WRITE payload as the specification lays it out */
typedef struct VfioUserDmaAccess {
    uint64_t address;
    uint64_t count;
} QEMU_PACKED VfioUserDmaAccess;

/* The fixed part of a region read or write, after the header */
typedef struct VfioUserRegionAccess {
    uint64_t offset;
    uint32_t region;
    uint32_t count;
} QEMU_PACKED VfioUserRegionAccess;

typedef struct VfioUserMsg {
    QSIMPLEQ_ENTRY(VfioUserMsg) next;
    VFIOUserHdr hdr;
    uint8_t *payload;
    uint32_t len;               /* of payload */
    int fds[VUS_MAX_FDS];
    unsigned nfds;
    unsigned generation;        /* of the connection it came on */
} VfioUserMsg;

/* A DMA message waiting for its reply */
typedef struct VfioUserDmaWait {
    QLIST_ENTRY(VfioUserDmaWait) next;
    uint16_t id;
    uint16_t command;
    uint64_t addr;
    uint32_t len;
    void *buf;                  /* DMA_READ: where the data goes */
    bool done;
    int err;
} VfioUserDmaWait;

typedef struct VfioUserDmaRegion {
    IntervalTreeNode node;      /* [iova, iova + size - 1] */
    uint32_t prot;              /* VFIO_DMA_MAP_FLAG_READ/_WRITE */
    void *host;                 /* NULL: reached by messages */
} VfioUserDmaRegion;

struct VfioUserServer {
    const VfioUserDeviceInfo *dev;
    void *opaque;
    char *path;
    int listen_fd;
    VfioUserMisbehaviour misbehave;
    unsigned dma_timeout_ms;

    /* The connection: main loop, except as noted */
    int fd;                     /* -1: no client */
    unsigned generation;
    QemuThread reader;
    QEMUBH *request_bh;
    QEMUBH *gone_bh;
    uint64_t client_max_xfer;   /* the client's max_data_xfer_size */

    QemuMutex lock;             /* the four below, and the waiters' state */
    QemuCond reply_cond;
    bool connected;
    /* DMA messages being sent on fd, which stays open until they are */
    unsigned senders;
    QSIMPLEQ_HEAD(, VfioUserMsg) requests;
    QLIST_HEAD(, VfioUserDmaWait) waiters;

    QemuMutex send_lock;        /* one message at a time on the socket */
    uint16_t next_id;           /* under send_lock */

    /*
     * The client's DMA regions.  A direct request holds dma_lock while it
     * copies, so that DMA_UNMAP, which takes it, answers only once no
     * request uses the region any more, as the specification asks.
     */
    QemuMutex dma_lock;
    IntervalTreeRoot dma_regions;
    unsigned nr_dma_regions;

    /* Interrupts: event file descriptors per index and vector */
    int *irq_fds[VFIO_PCI_NUM_IRQS];
    int intx_unmask_fd;
    bool intx_level;
    bool intx_masked;
};

static void vus_msg_free(VfioUserMsg *msg)
{
    for (unsigned i = 0; i < msg->nfds; i++) {
        close(msg->fds[i]);
    }
    g_free(msg->payload);
    g_free(msg);
}

/* ---- the socket ---- */

/* Read exactly @len bytes; false on end of file or error */
static bool vus_read_full(int fd, void *buf, size_t len)
{
    while (len) {
        ssize_t n = read(fd, buf, len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        buf = (uint8_t *)buf + n;
        len -= n;
    }
    return true;
}

/*
 * Receive one message with the file descriptors sent along.  NULL on end
 * of file, an error, or a message that breaks the protocol (the caller
 * drops the connection: the stream cannot be trusted after it).
 */
static VfioUserMsg *vus_recv(VfioUserServer *s, int fd)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * VUS_MAX_FDS)];
    } control;
    VfioUserMsg *msg = g_new0(VfioUserMsg, 1);
    struct iovec iov = { .iov_base = &msg->hdr, .iov_len = sizeof(msg->hdr) };
    struct msghdr mh = {
        .msg_iov = &iov,
        .msg_iovlen = 1,
        .msg_control = control.buf,
        .msg_controllen = sizeof(control.buf),
    };
    struct cmsghdr *cmsg;
    ssize_t n;

    do {
        n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
        goto fail;
    }
    for (cmsg = CMSG_FIRSTHDR(&mh); cmsg; cmsg = CMSG_NXTHDR(&mh, cmsg)) {
        unsigned nfds;

        if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) {
            continue;
        }
        nfds = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        nfds = MIN(nfds, VUS_MAX_FDS - msg->nfds);
        memcpy(&msg->fds[msg->nfds], CMSG_DATA(cmsg), nfds * sizeof(int));
        msg->nfds += nfds;
    }
    if (mh.msg_flags & MSG_CTRUNC) {
        error_report("vfio-user: more file descriptors than %d in a message",
                     VUS_MAX_FDS);
        goto fail;
    }
    if (n < sizeof(msg->hdr) &&
        !vus_read_full(fd, (uint8_t *)&msg->hdr + n, sizeof(msg->hdr) - n)) {
        goto fail;
    }
    if (msg->hdr.size < sizeof(msg->hdr) || msg->hdr.size > VUS_MAX_MSG) {
        error_report("vfio-user: message of %" PRIu32 " bytes refused",
                     msg->hdr.size);
        goto fail;
    }
    msg->len = msg->hdr.size - sizeof(msg->hdr);
    msg->payload = g_malloc(msg->len);
    if (!vus_read_full(fd, msg->payload, msg->len)) {
        goto fail;
    }
    return msg;

fail:
    vus_msg_free(msg);
    return NULL;
}

/*
 * Send a message: the header, then @nparts pieces of payload, with @fds.
 * Returns 0 or a negative errno.
 */
static int vus_send(VfioUserServer *s, int fd, VFIOUserHdr *hdr,
                    const struct iovec *parts, unsigned nparts,
                    const int *fds, unsigned nfds)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * VUS_MAX_FDS)];
    } control;
    struct iovec iov[4];
    struct msghdr mh = { .msg_iov = iov };
    size_t total = sizeof(*hdr);
    int ret = 0;

    assert(nparts < ARRAY_SIZE(iov) && nfds <= VUS_MAX_FDS);
    iov[0] = (struct iovec) { .iov_base = hdr, .iov_len = sizeof(*hdr) };
    for (unsigned i = 0; i < nparts; i++) {
        iov[i + 1] = parts[i];
        total += parts[i].iov_len;
    }
    mh.msg_iovlen = nparts + 1;
    hdr->size = total;
    if (nfds) {
        struct cmsghdr *cmsg;

        mh.msg_control = control.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        cmsg = CMSG_FIRSTHDR(&mh);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * nfds);
    }

    qemu_mutex_lock(&s->send_lock);
    while (total) {
        ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            ret = -errno;
            break;
        }
        /* The descriptors went with the first bytes */
        mh.msg_control = NULL;
        mh.msg_controllen = 0;
        total -= n;
        while (n && (size_t)n >= mh.msg_iov->iov_len) {
            n -= mh.msg_iov->iov_len;
            mh.msg_iov++;
            mh.msg_iovlen--;
        }
        if (n) {
            mh.msg_iov->iov_base = (uint8_t *)mh.msg_iov->iov_base + n;
            mh.msg_iov->iov_len -= n;
        }
    }
    qemu_mutex_unlock(&s->send_lock);
    return ret;
}

static void vus_reply(VfioUserServer *s, VfioUserMsg *msg,
                      const void *payload, size_t len)
{
    VFIOUserHdr hdr = msg->hdr;
    struct iovec part = { .iov_base = (void *)payload, .iov_len = len };

    if (msg->hdr.flags & VFIO_USER_NO_REPLY) {
        return;
    }
    hdr.flags = VFIO_USER_REPLY;
    hdr.error_reply = 0;
    vus_send(s, s->fd, &hdr, &part, len ? 1 : 0, NULL, 0);
}

static void vus_reply_error(VfioUserServer *s, VfioUserMsg *msg, int err)
{
    VFIOUserHdr hdr = msg->hdr;

    if (msg->hdr.flags & VFIO_USER_NO_REPLY) {
        return;
    }
    hdr.flags = VFIO_USER_REPLY | VFIO_USER_ERROR;
    hdr.error_reply = err;
    vus_send(s, s->fd, &hdr, NULL, 0, NULL, 0);
}

/* ---- the reader thread ---- */

/* A reply to one of our DMA messages: check it and wake its waiter */
static void vus_dma_reply(VfioUserServer *s, VfioUserMsg *msg)
{
    const uint8_t *p = msg->payload;
    uint64_t address, count = 0;
    VfioUserDmaWait *w;

    QLIST_FOREACH(w, &s->waiters, next) {
        if (w->id == msg->hdr.id && w->command == msg->hdr.command) {
            break;
        }
    }
    if (!w) {
        error_report("vfio-user: reply to no request (id %u, command %u)",
                     msg->hdr.id, msg->hdr.command);
        return;
    }
    QLIST_REMOVE(w, next);
    w->done = true;
    if (msg->hdr.flags & VFIO_USER_ERROR) {
        w->err = -(msg->hdr.error_reply ? msg->hdr.error_reply : EIO);
        return;
    }
    /*
     * A reply names the address and the count it moved; a DMA_READ reply
     * carries the data after them.  The specification's DMA_WRITE reply
     * table gives the count 4 bytes, its request 8: take either.
     */
    if (msg->len >= sizeof(VfioUserDmaAccess)) {
        count = ldq_he_p(p + 8);
    } else if (msg->len >= 12) {
        count = ldl_he_p(p + 8);
    }
    address = msg->len >= 8 ? ldq_he_p(p) : ~w->addr;
    if (msg->len < 12 || address != w->addr || count != w->len ||
        (w->command == VFIO_USER_DMA_READ &&
         msg->len != sizeof(VfioUserDmaAccess) + w->len)) {
        error_report("vfio-user: bad reply to DMA %s of %" PRIu32 " bytes at "
                     "0x%" PRIx64 ": %" PRIu32 " bytes",
                     w->command == VFIO_USER_DMA_READ ? "read" : "write",
                     w->len, w->addr, msg->len);
        w->err = -EPROTO;
        return;
    }
    if (w->command == VFIO_USER_DMA_READ) {
        memcpy(w->buf, p + sizeof(VfioUserDmaAccess), w->len);
    }
    w->err = 0;
}

static void *vus_reader(void *opaque)
{
    VfioUserServer *s = opaque;
    int fd = s->fd;
    unsigned generation = s->generation;
    VfioUserDmaWait *w;
    VfioUserMsg *msg;

    while ((msg = vus_recv(s, fd))) {
        switch (msg->hdr.flags & VFIO_USER_TYPE) {
        case VFIO_USER_REPLY:
            qemu_mutex_lock(&s->lock);
            vus_dma_reply(s, msg);
            qemu_cond_broadcast(&s->reply_cond);
            qemu_mutex_unlock(&s->lock);
            vus_msg_free(msg);
            continue;
        case VFIO_USER_REQUEST:
            msg->generation = generation;
            qemu_mutex_lock(&s->lock);
            QSIMPLEQ_INSERT_TAIL(&s->requests, msg, next);
            qemu_mutex_unlock(&s->lock);
            qemu_bh_schedule(s->request_bh);
            continue;
        }
        error_report("vfio-user: message of unknown type 0x%" PRIx32,
                     msg->hdr.flags);
        vus_msg_free(msg);
        break;
    }

    /*
     * The client is gone, or its stream cannot be trusted: end the
     * connection both ways, and nobody will answer the DMA messages in
     * flight
     */
    shutdown(fd, SHUT_RDWR);
    qemu_mutex_lock(&s->lock);
    s->connected = false;
    while ((w = QLIST_FIRST(&s->waiters))) {
        QLIST_REMOVE(w, next);
        w->done = true;
        w->err = -ECONNRESET;
    }
    qemu_cond_broadcast(&s->reply_cond);
    qemu_mutex_unlock(&s->lock);
    qemu_bh_schedule(s->gone_bh);
    return NULL;
}

/* ---- DMA regions ---- */

static VfioUserDmaRegion *vus_region_of(IntervalTreeNode *node)
{
    return container_of(node, VfioUserDmaRegion, node);
}

static void vus_region_free(VfioUserDmaRegion *r)
{
    if (r->host) {
        munmap(r->host, r->node.last - r->node.start + 1);
    }
    g_free(r);
}

/* Drop every region; dma_lock held */
static void vus_drop_regions(VfioUserServer *s)
{
    IntervalTreeNode *node;

    while ((node = interval_tree_iter_first(&s->dma_regions, 0, UINT64_MAX))) {
        interval_tree_remove(node, &s->dma_regions);
        vus_region_free(vus_region_of(node));
    }
    s->nr_dma_regions = 0;
}

static int vus_dma_map(VfioUserServer *s, VfioUserMsg *msg,
                       VfioUserMapEvent *ev)
{
    const uint32_t *argsz_flags = (const void *)msg->payload;
    const uint64_t *p = (const void *)(msg->payload + 8);
    uint32_t flags;
    VfioUserDmaRegion *r;
    void *host = NULL;
    int prot = 0;
    struct stat st;

    if (msg->len != 32 || argsz_flags[0] < 32 || msg->nfds > 1) {
        return -EINVAL;
    }
    flags = argsz_flags[1];
    ev->offset = p[0];
    ev->iova = p[1];
    ev->size = p[2];
    ev->has_fd = msg->nfds;
    ev->prot = flags;
    if (flags & ~(VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE) ||
        !ev->size || (ev->iova | ev->size) & (VUS_PAGE_SIZE - 1) ||
        ev->iova + ev->size - 1 < ev->iova) {
        return -EINVAL;
    }
    if (s->nr_dma_regions >= VUS_MAX_DMA_REGIONS) {
        return -ENOSPC;
    }
    if (msg->nfds) {
        /* A mapping past the file's end would fault when touched */
        if (fstat(msg->fds[0], &st) < 0 ||
            (S_ISREG(st.st_mode) &&
             (ev->offset > st.st_size || ev->size > st.st_size - ev->offset))) {
            return -EINVAL;
        }
        prot = (flags & VFIO_DMA_MAP_FLAG_READ ? PROT_READ : 0) |
               (flags & VFIO_DMA_MAP_FLAG_WRITE ? PROT_WRITE : 0);
        host = mmap(NULL, ev->size, prot ? prot : PROT_NONE, MAP_SHARED,
                    msg->fds[0], ev->offset);
        if (host == MAP_FAILED) {
            return -errno;
        }
    }

    r = g_new0(VfioUserDmaRegion, 1);
    r->node.start = ev->iova;
    r->node.last = ev->iova + ev->size - 1;
    r->prot = flags;
    r->host = host;
    qemu_mutex_lock(&s->dma_lock);
    if (interval_tree_iter_first(&s->dma_regions, r->node.start,
                                 r->node.last)) {
        qemu_mutex_unlock(&s->dma_lock);
        vus_region_free(r);
        return -EEXIST;
    }
    interval_tree_insert(&r->node, &s->dma_regions);
    s->nr_dma_regions++;
    qemu_mutex_unlock(&s->dma_lock);
    return 0;
}

/*
 * The specification asks for an unmap to match one mapping exactly.
 * QEMU's VFIO listener unmaps a whole IOMMU section at once when the
 * section goes, as the kernel's type1 container allows: so, as type1
 * does, remove every region inside the range and refuse only a range
 * that would cut a region in two.
 */
static int vus_dma_unmap(VfioUserServer *s, VfioUserMsg *msg,
                         VfioUserMapEvent *ev)
{
    const uint32_t *argsz_flags = (const void *)msg->payload;
    const uint64_t *p = (const void *)(msg->payload + 8);
    IntervalTreeNode *node, *next;
    uint64_t last;
    uint32_t flags;

    if (msg->len != 24 || msg->nfds) {
        return -EINVAL;
    }
    flags = argsz_flags[1];
    ev->unmap = true;
    ev->iova = p[0];
    ev->size = p[1];
    ev->all = flags & VFIO_DMA_UNMAP_FLAG_ALL;
    if (flags & ~VFIO_DMA_UNMAP_FLAG_ALL) {
        return -EINVAL;
    }

    qemu_mutex_lock(&s->dma_lock);
    if (ev->all) {
        vus_drop_regions(s);
        qemu_mutex_unlock(&s->dma_lock);
        return 0;
    }
    if (!ev->size || ev->iova + ev->size - 1 < ev->iova) {
        qemu_mutex_unlock(&s->dma_lock);
        return -EINVAL;
    }
    last = ev->iova + ev->size - 1;
    for (node = interval_tree_iter_first(&s->dma_regions, ev->iova, last);
         node; node = interval_tree_iter_next(node, ev->iova, last)) {
        if (node->start < ev->iova || node->last > last) {
            qemu_mutex_unlock(&s->dma_lock);
            return -EINVAL;
        }
    }
    for (node = interval_tree_iter_first(&s->dma_regions, ev->iova, last);
         node; node = next) {
        next = interval_tree_iter_next(node, ev->iova, last);
        interval_tree_remove(node, &s->dma_regions);
        vus_region_free(vus_region_of(node));
        s->nr_dma_regions--;
    }
    qemu_mutex_unlock(&s->dma_lock);
    return 0;
}

unsigned vfio_user_server_dma_regions(VfioUserServer *s)
{
    unsigned n;

    qemu_mutex_lock(&s->dma_lock);
    n = s->nr_dma_regions;
    qemu_mutex_unlock(&s->dma_lock);
    return n;
}

/* ---- DMA by messages ---- */

static int vus_dma_message(VfioUserServer *s, uint64_t addr, void *buf,
                           uint32_t len, bool is_write)
{
    uint64_t count = len;
    VfioUserDmaAccess acc;
    VfioUserDmaWait w = {
        .command = is_write ? VFIO_USER_DMA_WRITE : VFIO_USER_DMA_READ,
        .addr = addr,
        .len = len,
        .buf = buf,
    };
    struct iovec parts[2] = {
        { .iov_base = &acc, .iov_len = sizeof(acc) },
        { .iov_base = buf, .iov_len = is_write ? len : 0 },
    };
    VFIOUserHdr hdr = { .command = w.command, .flags = VFIO_USER_REQUEST };
    int64_t deadline;
    int fd, ret;

    if (s->misbehave == VFIO_USER_MISBEHAVE_HUGE) {
        count = 1ull << 40;
    }
    acc = (VfioUserDmaAccess) { .address = addr, .count = count };

    qemu_mutex_lock(&s->lock);
    if (!s->connected) {
        qemu_mutex_unlock(&s->lock);
        return -ENOTCONN;
    }
    fd = s->fd;
    s->senders++;
    qemu_mutex_lock(&s->send_lock);
    w.id = hdr.id = s->next_id++;
    qemu_mutex_unlock(&s->send_lock);
    QLIST_INSERT_HEAD(&s->waiters, &w, next);
    qemu_mutex_unlock(&s->lock);

    ret = vus_send(s, fd, &hdr, parts, is_write ? 2 : 1, NULL, 0);
    if (s->misbehave == VFIO_USER_MISBEHAVE_DISCONNECT) {
        shutdown(fd, SHUT_RDWR);
    }

    deadline = qemu_clock_get_ms(QEMU_CLOCK_REALTIME) + s->dma_timeout_ms;
    qemu_mutex_lock(&s->lock);
    s->senders--;
    qemu_cond_broadcast(&s->reply_cond);
    if (ret < 0 && !w.done) {
        QLIST_REMOVE(&w, next);
        w.done = true;
        w.err = ret;
    }
    while (!w.done) {
        int64_t left = deadline - qemu_clock_get_ms(QEMU_CLOCK_REALTIME);

        if (left <= 0) {
            QLIST_REMOVE(&w, next);
            w.err = -ETIMEDOUT;
            error_report("vfio-user: no reply to DMA %s at 0x%" PRIx64
                         " within %u ms", is_write ? "write" : "read", addr,
                         s->dma_timeout_ms);
            break;
        }
        qemu_cond_timedwait(&s->reply_cond, &s->lock, left);
    }
    qemu_mutex_unlock(&s->lock);
    trace_vfio_user_server_dma_message(is_write, addr, len, w.err);
    return w.err;
}

int vfio_user_server_dma(VfioUserServer *s, uint64_t addr, void *buf,
                         uint32_t len, bool is_write, VfioUserDmaPath *path)
{
    uint32_t need = is_write ? VFIO_DMA_MAP_FLAG_WRITE : VFIO_DMA_MAP_FLAG_READ;
    IntervalTreeNode *node;
    VfioUserDmaRegion *r;

    assert(len && len <= VUS_PAGE_SIZE);
    qemu_mutex_lock(&s->dma_lock);
    node = interval_tree_iter_first(&s->dma_regions, addr, addr + len - 1);
    if (!node || node->start > addr || node->last < addr + len - 1) {
        qemu_mutex_unlock(&s->dma_lock);
        if (s->misbehave != VFIO_USER_BEHAVE) {
            *path = VFIO_USER_DMA_MESSAGE;
            return vus_dma_message(s, addr, buf, len, is_write);
        }
        *path = VFIO_USER_DMA_UNMAPPED;
        return -EFAULT;
    }
    r = vus_region_of(node);
    if (!(r->prot & need)) {
        qemu_mutex_unlock(&s->dma_lock);
        *path = VFIO_USER_DMA_DENIED;
        return -EACCES;
    }
    if (r->host) {
        uint8_t *host = (uint8_t *)r->host + (addr - node->start);

        if (is_write) {
            memcpy(host, buf, len);
        } else {
            memcpy(buf, host, len);
        }
        qemu_mutex_unlock(&s->dma_lock);
        *path = VFIO_USER_DMA_DIRECT;
        return 0;
    }
    qemu_mutex_unlock(&s->dma_lock);
    *path = VFIO_USER_DMA_MESSAGE;
    return vus_dma_message(s, addr, buf, len, is_write);
}

/* ---- interrupts ---- */

static void vus_irq_signal(int fd)
{
    uint64_t one = 1;

    if (fd >= 0 && write(fd, &one, sizeof(one)) != sizeof(one)) {
        error_report("vfio-user: cannot signal an interrupt: %s",
                     strerror(errno));
    }
}

bool vfio_user_server_irq_enabled(VfioUserServer *s, uint32_t index)
{
    return s->dev->irq_count[index] && s->irq_fds[index][0] >= 0;
}

void vfio_user_server_irq_trigger(VfioUserServer *s, uint32_t index,
                                  uint32_t vector)
{
    if (vector < s->dev->irq_count[index]) {
        vus_irq_signal(s->irq_fds[index][vector]);
    }
}

static void vus_intx_update(VfioUserServer *s)
{
    if (s->intx_level && !s->intx_masked &&
        vfio_user_server_irq_enabled(s, VFIO_PCI_INTX_IRQ_INDEX)) {
        vus_irq_signal(s->irq_fds[VFIO_PCI_INTX_IRQ_INDEX][0]);
        s->intx_masked = true;
    }
}

void vfio_user_server_set_intx(VfioUserServer *s, bool level)
{
    s->intx_level = level;
    vus_intx_update(s);
}

static void vus_intx_unmask_fd_read(void *opaque)
{
    VfioUserServer *s = opaque;
    uint64_t v;

    if (read(s->intx_unmask_fd, &v, sizeof(v)) == sizeof(v)) {
        s->intx_masked = false;
        vus_intx_update(s);
    }
}

static void vus_set_intx_unmask_fd(VfioUserServer *s, int fd)
{
    if (s->intx_unmask_fd >= 0) {
        qemu_set_fd_handler(s->intx_unmask_fd, NULL, NULL, NULL);
        close(s->intx_unmask_fd);
    }
    s->intx_unmask_fd = fd;
    if (fd >= 0) {
        qemu_set_fd_handler(fd, vus_intx_unmask_fd_read, NULL, s);
    }
}

static void vus_close_irq_fds(VfioUserServer *s)
{
    for (unsigned i = 0; i < VFIO_PCI_NUM_IRQS; i++) {
        for (unsigned v = 0; v < s->dev->irq_count[i]; v++) {
            if (s->irq_fds[i][v] >= 0) {
                close(s->irq_fds[i][v]);
                s->irq_fds[i][v] = -1;
            }
        }
    }
    vus_set_intx_unmask_fd(s, -1);
    s->intx_masked = false;
}

/* VFIO_USER_DEVICE_SET_IRQS, as VFIO_DEVICE_SET_IRQS */
static int vus_set_irqs(VfioUserServer *s, VfioUserMsg *msg)
{
    const struct vfio_irq_set *set = (const void *)msg->payload;
    uint32_t data_type, action, count;
    unsigned i;

    if (msg->len < sizeof(*set) || set->index >= VFIO_PCI_NUM_IRQS) {
        return -EINVAL;
    }
    count = s->dev->irq_count[set->index];
    data_type = set->flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
    action = set->flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
    if (ctpop32(data_type) != 1 || ctpop32(action) != 1 ||
        set->start > count || set->count > count - set->start) {
        return -EINVAL;
    }
    if (data_type == VFIO_IRQ_SET_DATA_BOOL &&
        msg->len != sizeof(*set) + set->count) {
        return -EINVAL;
    }
    if (data_type == VFIO_IRQ_SET_DATA_EVENTFD &&
        msg->nfds && msg->nfds != set->count) {
        return -EINVAL;
    }

    switch (action) {
    case VFIO_IRQ_SET_ACTION_TRIGGER:
        if (data_type == VFIO_IRQ_SET_DATA_EVENTFD) {
            /* Without descriptors: take the vectors' away */
            for (i = 0; i < set->count; i++) {
                int *slot = &s->irq_fds[set->index][set->start + i];

                if (*slot >= 0) {
                    close(*slot);
                }
                *slot = msg->nfds ? msg->fds[i] : -1;
            }
            msg->nfds = 0;
        } else if (data_type == VFIO_IRQ_SET_DATA_NONE && !set->count) {
            /* Count 0 with no data disables every vector of the index */
            for (i = 0; i < count; i++) {
                if (s->irq_fds[set->index][i] >= 0) {
                    close(s->irq_fds[set->index][i]);
                    s->irq_fds[set->index][i] = -1;
                }
            }
        } else {
            for (i = 0; i < set->count; i++) {
                if (data_type == VFIO_IRQ_SET_DATA_NONE ||
                    msg->payload[sizeof(*set) + i]) {
                    vus_irq_signal(s->irq_fds[set->index][set->start + i]);
                }
            }
        }
        break;
    case VFIO_IRQ_SET_ACTION_MASK:
    case VFIO_IRQ_SET_ACTION_UNMASK:
        /* Only INTx masks, as with VFIO's PCI devices */
        if (set->index != VFIO_PCI_INTX_IRQ_INDEX || !count) {
            return -EINVAL;
        }
        if (data_type == VFIO_IRQ_SET_DATA_EVENTFD) {
            if (action != VFIO_IRQ_SET_ACTION_UNMASK) {
                return -EINVAL;
            }
            vus_set_intx_unmask_fd(s, msg->nfds ? msg->fds[0] : -1);
            msg->nfds = 0;
        } else if (data_type == VFIO_IRQ_SET_DATA_NONE || set->count == 0 ||
                   msg->payload[sizeof(*set)]) {
            s->intx_masked = action == VFIO_IRQ_SET_ACTION_MASK;
        }
        break;
    }
    vus_intx_update(s);
    if (s->dev->irqs_changed) {
        s->dev->irqs_changed(s->opaque);
    }
    return 0;
}

/* ---- requests ---- */

static uint64_t vus_json_uint(QDict *caps, const char *key, uint64_t dflt)
{
    QNum *n = qobject_to(QNum, qdict_get(caps, key));
    uint64_t v;

    return n && qnum_get_try_uint(n, &v) ? v : dflt;
}

static int vus_version(VfioUserServer *s, VfioUserMsg *msg)
{
    const uint16_t *ver = (const void *)msg->payload;
    g_autofree char *caps = NULL;
    uint16_t reply_ver[2] = { VFIO_USER_MAJOR_VER, VFIO_USER_MINOR_VER };
    struct iovec parts[2];
    VFIOUserHdr hdr;

    if (msg->len < 4 || ver[0] != VFIO_USER_MAJOR_VER) {
        return -EINVAL;
    }
    s->client_max_xfer = VUS_MAX_XFER;
    if (msg->len > 4) {
        const char *json = (const char *)msg->payload + 4;
        QDict *dict, *cap;
        QObject *obj;

        if (msg->payload[msg->len - 1] != '\0') {
            return -EINVAL;
        }
        obj = qobject_from_json(json, NULL);
        dict = qobject_to(QDict, obj);
        cap = dict ? qdict_get_qdict(dict, VFIO_USER_CAP) : NULL;
        if (cap) {
            s->client_max_xfer = vus_json_uint(cap, VFIO_USER_CAP_MAX_XFER,
                                               VUS_MAX_XFER);
        }
        qobject_unref(obj);
    }
    if (s->client_max_xfer < VUS_PAGE_SIZE) {
        error_report("vfio-user: the client takes DMA messages of at most "
                     "%" PRIu64 " bytes; the device needs 4096",
                     s->client_max_xfer);
        return -EINVAL;
    }

    caps = g_strdup_printf("{\"" VFIO_USER_CAP "\":{"
                           "\"" VFIO_USER_CAP_MAX_FDS "\":%d,"
                           "\"" VFIO_USER_CAP_MAX_XFER "\":%d,"
                           "\"" VFIO_USER_CAP_PGSIZES "\":%" PRIu64 ","
                           "\"" VFIO_USER_CAP_MAP_MAX "\":%d}}",
                           VUS_MAX_FDS, VUS_MAX_XFER, VUS_PGSIZES,
                           VUS_MAX_DMA_REGIONS);
    hdr = msg->hdr;
    hdr.flags = VFIO_USER_REPLY;
    hdr.error_reply = 0;
    parts[0] = (struct iovec) { reply_ver, sizeof(reply_ver) };
    parts[1] = (struct iovec) { caps, strlen(caps) + 1 };
    vus_send(s, s->fd, &hdr, parts, 2, NULL, 0);
    return 0;
}

static int vus_device_info(VfioUserServer *s, VfioUserMsg *msg)
{
    struct vfio_device_info info = {
        .argsz = sizeof(info),
        .flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET,
        .num_regions = VFIO_PCI_NUM_REGIONS,
        .num_irqs = VFIO_PCI_NUM_IRQS,
    };

    /* argsz, flags, num_regions, num_irqs: the start of vfio_device_info */
    vus_reply(s, msg, &info, 16);
    return 0;
}

static int vus_region_info(VfioUserServer *s, VfioUserMsg *msg)
{
    const struct vfio_region_info *req = (const void *)msg->payload;
    struct vfio_region_info info;

    if (msg->len < sizeof(info) || req->index >= VFIO_PCI_NUM_REGIONS) {
        return -EINVAL;
    }
    info = (struct vfio_region_info) {
        .argsz = sizeof(info),
        .index = req->index,
        .size = s->dev->region_size[req->index],
        .offset = (uint64_t)req->index << 40,
    };
    if (info.size) {
        info.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
    }
    vus_reply(s, msg, &info, sizeof(info));
    return 0;
}

static int vus_irq_info(VfioUserServer *s, VfioUserMsg *msg)
{
    const struct vfio_irq_info *req = (const void *)msg->payload;
    struct vfio_irq_info info;

    if (msg->len < sizeof(info) || req->index >= VFIO_PCI_NUM_IRQS) {
        return -EINVAL;
    }
    info = (struct vfio_irq_info) {
        .argsz = sizeof(info),
        .index = req->index,
        .count = s->dev->irq_count[req->index],
    };
    if (info.count) {
        info.flags = VFIO_IRQ_INFO_EVENTFD;
    }
    if (info.count && req->index == VFIO_PCI_INTX_IRQ_INDEX) {
        info.flags |= VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED;
    }
    vus_reply(s, msg, &info, sizeof(info));
    return 0;
}

static int vus_region_rw(VfioUserServer *s, VfioUserMsg *msg, bool is_write)
{
    const VfioUserRegionAccess *acc = (const void *)msg->payload;
    g_autofree uint8_t *data = NULL;
    struct iovec parts[2];
    VFIOUserHdr hdr;
    int ret;

    if (msg->len < sizeof(*acc) || acc->region >= VFIO_PCI_NUM_REGIONS ||
        acc->count > VUS_MAX_XFER ||
        msg->len != sizeof(*acc) + (is_write ? acc->count : 0) ||
        acc->offset > s->dev->region_size[acc->region] ||
        acc->count > s->dev->region_size[acc->region] - acc->offset) {
        return -EINVAL;
    }
    if (is_write) {
        ret = s->dev->region_rw(s->opaque, acc->region, acc->offset,
                                msg->payload + sizeof(*acc), acc->count,
                                true);
        if (ret == 0) {
            vus_reply(s, msg, acc, sizeof(*acc));
        }
        return ret;
    }
    data = g_malloc(acc->count);
    ret = s->dev->region_rw(s->opaque, acc->region, acc->offset, data,
                            acc->count, false);
    if (ret == 0 && !(msg->hdr.flags & VFIO_USER_NO_REPLY)) {
        hdr = msg->hdr;
        hdr.flags = VFIO_USER_REPLY;
        hdr.error_reply = 0;
        parts[0] = (struct iovec) { (void *)acc, sizeof(*acc) };
        parts[1] = (struct iovec) { data, acc->count };
        vus_send(s, s->fd, &hdr, parts, 2, NULL, 0);
    }
    return ret;
}

static void vus_handle(VfioUserServer *s, VfioUserMsg *msg)
{
    VfioUserMapEvent ev = { 0 };
    int ret;

    switch (msg->hdr.command) {
    case VFIO_USER_VERSION:
        ret = vus_version(s, msg);
        break;
    case VFIO_USER_DMA_MAP:
        ret = vus_dma_map(s, msg, &ev);
        ev.err = -ret;
        if (s->dev->map_event) {
            s->dev->map_event(s->opaque, &ev);
        }
        if (!ret) {
            vus_reply(s, msg, NULL, 0);
        }
        break;
    case VFIO_USER_DMA_UNMAP:
        ret = vus_dma_unmap(s, msg, &ev);
        ev.err = -ret;
        if (s->dev->map_event) {
            s->dev->map_event(s->opaque, &ev);
        }
        if (!ret) {
            /* The reply is the request's DMA entry */
            vus_reply(s, msg, msg->payload, msg->len);
        }
        break;
    case VFIO_USER_DEVICE_GET_INFO:
        ret = vus_device_info(s, msg);
        break;
    case VFIO_USER_DEVICE_GET_REGION_INFO:
        ret = vus_region_info(s, msg);
        break;
    case VFIO_USER_DEVICE_GET_IRQ_INFO:
        ret = vus_irq_info(s, msg);
        break;
    case VFIO_USER_DEVICE_SET_IRQS:
        ret = vus_set_irqs(s, msg);
        if (!ret) {
            vus_reply(s, msg, NULL, 0);
        }
        break;
    case VFIO_USER_REGION_READ:
        ret = vus_region_rw(s, msg, false);
        break;
    case VFIO_USER_REGION_WRITE:
        ret = vus_region_rw(s, msg, true);
        break;
    case VFIO_USER_DEVICE_RESET:
        s->dev->reset(s->opaque);
        vus_reply(s, msg, NULL, 0);
        ret = 0;
        break;
    default:
        ret = -ENOSYS;
        break;
    }
    trace_vfio_user_server_request(msg->hdr.id, msg->hdr.command,
                                   msg->hdr.size, ret);
    if (msg->hdr.command == VFIO_USER_DMA_MAP) {
        trace_vfio_user_server_dma_map(ev.iova, ev.size, ev.prot, ev.has_fd,
                                       ev.offset, ret);
    } else if (msg->hdr.command == VFIO_USER_DMA_UNMAP) {
        trace_vfio_user_server_dma_unmap(ev.iova, ev.size, ev.all, ret);
    }
    if (ret < 0) {
        vus_reply_error(s, msg, -ret);
    }
}

static void vus_process_requests(void *opaque)
{
    VfioUserServer *s = opaque;
    VfioUserMsg *msg;

    for (;;) {
        qemu_mutex_lock(&s->lock);
        msg = QSIMPLEQ_FIRST(&s->requests);
        if (msg) {
            QSIMPLEQ_REMOVE_HEAD(&s->requests, next);
        }
        qemu_mutex_unlock(&s->lock);
        if (!msg) {
            return;
        }
        /* A request of a client that has gone meets nobody to answer */
        if (msg->generation == s->generation && s->fd >= 0) {
            vus_handle(s, msg);
        }
        vus_msg_free(msg);
    }
}

/* ---- connections ---- */

static void vus_accept(void *opaque);

static void vus_listen(VfioUserServer *s, bool on)
{
    qemu_set_fd_handler(s->listen_fd, on ? vus_accept : NULL, NULL, s);
}

/* The reader found the client gone (or was made to): clean up after it */
static void vus_gone(void *opaque)
{
    VfioUserServer *s = opaque;
    VfioUserMsg *msg;

    if (s->fd < 0) {
        return;
    }
    qemu_thread_join(&s->reader);
    qemu_mutex_lock(&s->lock);
    /* The DMA thread may still be sending on it: the send fails at once */
    while (s->senders) {
        qemu_cond_wait(&s->reply_cond, &s->lock);
    }
    close(s->fd);
    s->fd = -1;
    while ((msg = QSIMPLEQ_FIRST(&s->requests))) {
        QSIMPLEQ_REMOVE_HEAD(&s->requests, next);
        vus_msg_free(msg);
    }
    qemu_mutex_unlock(&s->lock);
    /*
     * What the specification asks of a server whose client went: its
     * memory unmapped, its interrupt descriptors closed, the device's
     * state otherwise kept for the next client.
     */
    qemu_mutex_lock(&s->dma_lock);
    vus_drop_regions(s);
    qemu_mutex_unlock(&s->dma_lock);
    vus_close_irq_fds(s);
    trace_vfio_user_server_connection(false);
    if (s->dev->connection) {
        s->dev->connection(s->opaque, false);
    }
    vus_listen(s, true);
}

static void vus_accept(void *opaque)
{
    VfioUserServer *s = opaque;
    int fd = qemu_accept(s->listen_fd, NULL, NULL);

    if (fd < 0) {
        return;
    }
    if (s->fd >= 0) {
        close(fd);
        return;
    }
    s->fd = fd;
    s->generation++;
    s->client_max_xfer = VUS_MAX_XFER;
    qemu_mutex_lock(&s->lock);
    s->connected = true;
    qemu_mutex_unlock(&s->lock);
    /* One client at a time: the next waits in the backlog */
    vus_listen(s, false);
    qemu_thread_create(&s->reader, "vfio-user-reader", vus_reader, s,
                       QEMU_THREAD_JOINABLE);
    trace_vfio_user_server_connection(true);
    if (s->dev->connection) {
        s->dev->connection(s->opaque, true);
    }
}

VfioUserServer *vfio_user_server_new(const char *path,
                                     const VfioUserDeviceInfo *dev,
                                     void *opaque, Error **errp)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    VfioUserServer *s;
    int fd;

    if (strlen(path) >= sizeof(sun.sun_path)) {
        error_setg(errp, "socket path %s is too long", path);
        return NULL;
    }
    strcpy(sun.sun_path, path);
    fd = qemu_socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) {
        error_setg_errno(errp, errno, "cannot create a socket");
        return NULL;
    }
    unlink(path);
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
        listen(fd, 1) < 0) {
        error_setg_errno(errp, errno, "cannot listen on %s", path);
        close(fd);
        return NULL;
    }

    s = g_new0(VfioUserServer, 1);
    s->dev = dev;
    s->opaque = opaque;
    s->path = g_strdup(path);
    s->listen_fd = fd;
    s->fd = -1;
    s->intx_unmask_fd = -1;
    s->dma_timeout_ms = VUS_DMA_TIMEOUT_MS;
    qemu_mutex_init(&s->lock);
    qemu_mutex_init(&s->send_lock);
    qemu_mutex_init(&s->dma_lock);
    qemu_cond_init(&s->reply_cond);
    QSIMPLEQ_INIT(&s->requests);
    QLIST_INIT(&s->waiters);
    for (unsigned i = 0; i < VFIO_PCI_NUM_IRQS; i++) {
        s->irq_fds[i] = g_new(int, MAX(dev->irq_count[i], 1));
        for (unsigned v = 0; v < MAX(dev->irq_count[i], 1); v++) {
            s->irq_fds[i][v] = -1;
        }
    }
    s->request_bh = qemu_bh_new(vus_process_requests, s);
    s->gone_bh = qemu_bh_new(vus_gone, s);
    vus_listen(s, true);
    return s;
}

void vfio_user_server_drop_client(VfioUserServer *s)
{
    if (s->fd >= 0) {
        shutdown(s->fd, SHUT_RDWR);
        qemu_bh_cancel(s->gone_bh);
        vus_gone(s);
    }
}

void vfio_user_server_free(VfioUserServer *s)
{
    vfio_user_server_drop_client(s);
    vus_listen(s, false);
    close(s->listen_fd);
    unlink(s->path);
    qemu_bh_delete(s->request_bh);
    qemu_bh_delete(s->gone_bh);
    for (unsigned i = 0; i < VFIO_PCI_NUM_IRQS; i++) {
        g_free(s->irq_fds[i]);
    }
    qemu_cond_destroy(&s->reply_cond);
    qemu_mutex_destroy(&s->dma_lock);
    qemu_mutex_destroy(&s->send_lock);
    qemu_mutex_destroy(&s->lock);
    g_free(s->path);
    g_free(s);
}

void vfio_user_server_set_misbehaviour(VfioUserServer *s,
                                       VfioUserMisbehaviour how)
{
    s->misbehave = how;
}

void vfio_user_server_set_dma_timeout(VfioUserServer *s, unsigned ms)
{
    s->dma_timeout_ms = ms ? ms : VUS_DMA_TIMEOUT_MS;
}
