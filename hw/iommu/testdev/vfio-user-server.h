/*
 * The server side of the vfio-user protocol, for one device per process
 *
 * docs/interop/vfio-user.rst is the protocol.  This is the part of it an
 * emulated PCI device needs: the version handshake, device, region and
 * interrupt information, region reads and writes, the interrupts' event
 * file descriptors, reset, and the client's DMA space, which the device
 * reaches directly where the client shared its memory (DMA_MAP with a
 * file descriptor) and by DMA_READ/DMA_WRITE messages elsewhere.
 *
 * Threads.  A reader thread receives every message.  Requests run, in the
 * order they arrived, on the main loop (the device's context); replies
 * wake whoever waits for them.  So the device may issue message DMA from
 * the main loop while it handles a request (the reader keeps receiving)
 * as well as from a thread of its own.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef VFIO_USER_SERVER_H
#define VFIO_USER_SERVER_H

#include <linux/vfio.h>

typedef struct VfioUserServer VfioUserServer;

/* How a DMA request went */
typedef enum VfioUserDmaPath {
    VFIO_USER_DMA_DIRECT,       /* through memory the client mapped */
    VFIO_USER_DMA_MESSAGE,      /* as a DMA_READ or DMA_WRITE message */
    VFIO_USER_DMA_UNMAPPED,     /* refused: no DMA region covers it */
    VFIO_USER_DMA_DENIED,       /* refused: the region lacks the access */
} VfioUserDmaPath;

/*
 * Testing the client against a server that breaks the protocol (never
 * for real use): every DMA request that would go by message does this
 * instead.
 */
typedef enum VfioUserMisbehaviour {
    VFIO_USER_BEHAVE,
    /* Send it even where no DMA region covers the address */
    VFIO_USER_MISBEHAVE_OUTSIDE,
    /* Ask for 2^40 bytes: DMA_READ count, DMA_WRITE count and size */
    VFIO_USER_MISBEHAVE_HUGE,
    /* Send it, then drop the connection before the reply */
    VFIO_USER_MISBEHAVE_DISCONNECT,
} VfioUserMisbehaviour;

/* One DMA_MAP or DMA_UNMAP the client sent, and the errno answered */
typedef struct VfioUserMapEvent {
    bool unmap;
    bool all;                   /* DMA_UNMAP of everything */
    bool has_fd;                /* DMA_MAP with a file descriptor */
    uint32_t prot;              /* VFIO_DMA_MAP_FLAG_READ/_WRITE */
    uint64_t iova;
    uint64_t size;
    uint64_t offset;            /* in the file, for DMA_MAP with one */
    int err;                    /* 0: accepted */
} VfioUserMapEvent;

/* The device behind the server; callbacks run on the main loop */
typedef struct VfioUserDeviceInfo {
    /* VFIO_PCI_NUM_REGIONS entries, VFIO_PCI_NUM_IRQS entries */
    uint64_t region_size[VFIO_PCI_NUM_REGIONS];
    uint32_t irq_count[VFIO_PCI_NUM_IRQS];
    /*
     * Read or write @count bytes at @offset of region @index; returns 0
     * or a negative errno
     */
    int (*region_rw)(void *opaque, uint32_t index, uint64_t offset,
                     void *data, uint32_t count, bool is_write);
    void (*reset)(void *opaque);
    /* The client changed the interrupts' set-up */
    void (*irqs_changed)(void *opaque);
    void (*map_event)(void *opaque, const VfioUserMapEvent *ev);
    /* A client connected (or disconnected, @connected false) */
    void (*connection)(void *opaque, bool connected);
} VfioUserDeviceInfo;

/*
 * Listen on the UNIX socket @path for one client at a time; serve
 * @dev with @opaque.  The main loop must be initialized.  Returns NULL,
 * with @errp set, on failure.
 */
VfioUserServer *vfio_user_server_new(const char *path,
                                     const VfioUserDeviceInfo *dev,
                                     void *opaque, Error **errp);
/*
 * Drop the client, if one is connected: DMA messages waiting for a reply
 * fail at once
 */
void vfio_user_server_drop_client(VfioUserServer *s);
/* Drop the client, stop listening, unlink the socket */
void vfio_user_server_free(VfioUserServer *s);
void vfio_user_server_set_misbehaviour(VfioUserServer *s,
                                       VfioUserMisbehaviour how);
/* Wait at most @ms for the reply to a DMA message (0: 5 s) */
void vfio_user_server_set_dma_timeout(VfioUserServer *s, unsigned ms);

/*
 * Move @len bytes between @buf and the client's DMA address @addr, one
 * request: @len must stay within one DMA region page (4 KiB).  Any
 * thread.  Returns 0 or a negative errno: -EFAULT (UNMAPPED), -EACCES
 * (DENIED), or for a message the error the client answered with, or
 * -ETIMEDOUT, -ECONNRESET, -EPROTO (a reply that does not match).
 */
int vfio_user_server_dma(VfioUserServer *s, uint64_t addr, void *buf,
                         uint32_t len, bool is_write, VfioUserDmaPath *path);

/* Live DMA regions */
unsigned vfio_user_server_dma_regions(VfioUserServer *s);

/*
 * Interrupts, from the main loop.  Whether the client gave vector 0 of
 * @index an event file descriptor; send vector @vector of @index.
 */
bool vfio_user_server_irq_enabled(VfioUserServer *s, uint32_t index);
void vfio_user_server_irq_trigger(VfioUserServer *s, uint32_t index,
                                  uint32_t vector);
/*
 * The INTx line's level.  As VFIO's INTx, the server signals a rising
 * line once and masks it; the client unmasks it after the guest's EOI,
 * and a line still high then is signalled again.
 */
void vfio_user_server_set_intx(VfioUserServer *s, bool level);

#endif /* VFIO_USER_SERVER_H */
