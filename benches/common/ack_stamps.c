/*
 * A librdkafka plugin for benches/timestamp_error.rs: the true ack time of every message.
 *
 * librdkafka calls on_acknowledgement() on its broker thread for each message of a produce
 * response, just before it moves them to the application's delivery-report queue. Stamping
 * there, on CLOCK_MONOTONIC (the clock of Rust's Instant), gives the earliest moment the client
 * holds the ack. Everything after it (the hand-off to the application's poll thread and what
 * that thread does before stamping) is timestamp error.
 *
 * Loaded through `plugin.library.paths`, so the client under test (aftershock's own producer,
 * built from a plain ClientConfig) needs no change. The bench compiles it with STAMPS_PATH set;
 * each client instance writes its stamps there when it is destroyed:
 *   u64 dropped, then one 48-byte record per ack: u64 ns, i32 err, u32 len, 32 payload bytes
 *   (aftershock's header), all little-endian as on the host.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "rdkafka.h"

#ifndef STAMPS_PATH
#error "compile with -DSTAMPS_PATH='\"/path/to/file\"'"
#endif

#define PREFIX 32
/* Enough for the longest bench run; mapped with MAP_POPULATE, so that the broker thread never
 * takes a page fault while stamping. (A memset after calloc does not do it: the compiler drops
 * it as redundant, and each new page then faulted between this stamp and the client's, about
 * 30 µs on this VM, once every 85 acks.) */
#define CAPACITY (1u << 20)
#define BYTES (CAPACITY * sizeof(struct stamp))

struct stamp {
        uint64_t ns;
        int32_t err;
        uint32_t len;
        uint8_t prefix[PREFIX];
};

struct stamps {
        pthread_mutex_t lock;
        int closed;
        size_t n;
        uint64_t dropped;
        struct stamp *v;
};

static rd_kafka_resp_err_t
on_ack(rd_kafka_t *rk, rd_kafka_message_t *m, void *opaque) {
        struct timespec ts;
        struct stamps *s = opaque;
        (void)rk;
        /* First thing: the time is the point of this plugin. */
        clock_gettime(CLOCK_MONOTONIC, &ts);
        pthread_mutex_lock(&s->lock);
        if (!s->closed) {
                if (s->n < CAPACITY) {
                        struct stamp *x = &s->v[s->n++];
                        size_t len      = m->payload ? m->len : 0;
                        x->ns  = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
                        x->err = (int32_t)m->err;
                        x->len = (uint32_t)len;
                        memset(x->prefix, 0, PREFIX);
                        memcpy(x->prefix, m->payload, len < PREFIX ? len : PREFIX);
                } else {
                        s->dropped++;
                }
        }
        pthread_mutex_unlock(&s->lock);
        return RD_KAFKA_RESP_ERR_NO_ERROR;
}

static rd_kafka_resp_err_t on_destroy(rd_kafka_t *rk, void *opaque) {
        struct stamps *s = opaque;
        FILE *f;
        (void)rk;
        pthread_mutex_lock(&s->lock);
        /* Closed, not freed: a broker thread may still report a purged message after this. */
        s->closed = 1;
        f         = fopen(STAMPS_PATH, "wb");
        if (f) {
                fwrite(&s->dropped, sizeof s->dropped, 1, f);
                fwrite(s->v, sizeof *s->v, s->n, f);
                fclose(f);
        }
        munmap(s->v, BYTES);
        s->v = NULL;
        pthread_mutex_unlock(&s->lock);
        return RD_KAFKA_RESP_ERR_NO_ERROR;
}

static rd_kafka_resp_err_t on_new(rd_kafka_t *rk,
                                  const rd_kafka_conf_t *conf,
                                  void *ic_opaque,
                                  char *errstr,
                                  size_t errstr_size) {
        struct stamps *s = calloc(1, sizeof *s);
        (void)conf;
        (void)ic_opaque;
        if (s)
                s->v = mmap(NULL, BYTES, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (!s || s->v == MAP_FAILED) {
                snprintf(errstr, errstr_size, "ack_stamps: out of memory");
                return RD_KAFKA_RESP_ERR__FAIL;
        }
        pthread_mutex_init(&s->lock, NULL);
        rd_kafka_interceptor_add_on_acknowledgement(rk, "ack_stamps", on_ack, s);
        rd_kafka_interceptor_add_on_destroy(rk, "ack_stamps", on_destroy, s);
        return RD_KAFKA_RESP_ERR_NO_ERROR;
}

/* The plugin entry point librdkafka looks up after loading the library. */
rd_kafka_resp_err_t conf_init(rd_kafka_conf_t *conf,
                              void **plug_opaquep,
                              char *errstr,
                              size_t errstr_size) {
        (void)plug_opaquep;
        (void)errstr;
        (void)errstr_size;
        return rd_kafka_conf_interceptor_add_on_new(conf, "ack_stamps", on_new, NULL);
}
