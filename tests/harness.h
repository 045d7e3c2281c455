/* SPDX-License-Identifier: MIT */
/*
 * harness.h - kmem's tiny test harness (after mimalloc's test-api.c).
 *
 *   TEST(name) { CHECK(cond); CHECK_EQ(a, b); ... }
 *   int main(void) { RUN(name); ...; return harness_report(); }
 *
 * CHECK keeps going after a failure and prints file:line and the expression;
 * harness_report prints "N passed, M failed" (the line ctest logs show) and
 * returns the exit status. EXPECT_DEATH runs a function in a forked child and
 * passes when the child dies by SIGABRT (or the given signal) and its stderr
 * contains the expected text: the death tests for bad input.
 */
#ifndef KMEM_TEST_HARNESS_H
#define KMEM_TEST_HARNESS_H

#define _GNU_SOURCE
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int harness_checks_failed;
static int harness_tests_passed;
static int harness_tests_failed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
            harness_checks_failed++;                                                               \
        }                                                                                          \
    } while (0)

#define CHECK_EQ(a, b)                                                                             \
    do {                                                                                           \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                            \
        if (check_a_ != check_b_) {                                                                \
            fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s (%lld != %lld)\n", __FILE__,         \
                    __LINE__, #a, #b, check_a_, check_b_);                                         \
            harness_checks_failed++;                                                               \
        }                                                                                          \
    } while (0)

#define CHECK_STR_EQ(a, b)                                                                         \
    do {                                                                                           \
        const char *check_a_ = (a), *check_b_ = (b);                                               \
        if (strcmp(check_a_, check_b_) != 0) {                                                     \
            fprintf(stderr,                                                                        \
                    "%s:%d: CHECK_STR_EQ failed: %s == %s\n--- got:\n%s\n--- expected:\n%s\n",     \
                    __FILE__, __LINE__, #a, #b, check_a_, check_b_);                               \
            harness_checks_failed++;                                                               \
        }                                                                                          \
    } while (0)

/* Stop the current test (for a failure that makes the rest meaningless). */
#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond);             \
            harness_checks_failed++;                                                               \
            return;                                                                                \
        }                                                                                          \
    } while (0)

/* Which sanitizer the test is built with: heavy tests scale down under
 * them (UNDER_TSAN, UNDER_ASAN are 0 or 1). */
#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#ifndef UNDER_TSAN
#define UNDER_TSAN 0
#endif
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

#define TEST(name) static void name(void)
#define RUN(name)  harness_run(#name, name)

static inline void harness_run(const char *name, void (*fn)(void))
{
    int before = harness_checks_failed;
    fprintf(stderr, "[ RUN  ] %s\n", name);
    fn();
    if (harness_checks_failed == before) {
        harness_tests_passed++;
        fprintf(stderr, "[  OK  ] %s\n", name);
    } else {
        harness_tests_failed++;
        fprintf(stderr, "[ FAIL ] %s\n", name);
    }
}

static inline int harness_report(void)
{
    printf("%d passed, %d failed\n", harness_tests_passed, harness_tests_failed);
    fflush(stdout);
    return harness_tests_failed ? 1 : 0;
}

/* Run fn in a forked child with its stderr captured into out (NUL-terminated,
 * at most len - 1 bytes); returns the child's wait status, or -1. */
static inline int harness_run_child(void (*fn)(void), char *out, size_t len)
{
    int pipefd[2];
    if (pipe(pipefd) != 0)
        return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipefd[1], STDERR_FILENO);
        close(pipefd[0]);
        close(pipefd[1]);
        signal(SIGABRT, SIG_DFL);
        fn();
        _exit(0); /* survived */
    }
    close(pipefd[1]);
    size_t n = 0;
    ssize_t r;
    while (n < len - 1 && (r = read(pipefd[0], out + n, len - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    close(pipefd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return status;
}

/* Run fn in a child; pass if it dies by signal sig with expect in its stderr,
 * which is echoed on failure. */
static inline int harness_expect_death(const char *file, int line, void (*fn)(void), int sig,
                                       const char *expect)
{
    static char out[16384];
    int status = harness_run_child(fn, out, sizeof out);
    int ok = status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == sig &&
             strstr(out, expect) != NULL;
    if (!ok) {
        fprintf(stderr,
                "%s:%d: EXPECT_DEATH failed: wanted signal %d and \"%s\"; got %s %d, stderr:\n%s\n",
                file, line, sig, expect, WIFSIGNALED(status) ? "signal" : "exit status",
                WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), out);
        harness_checks_failed++;
    }
    return ok;
}

#define EXPECT_DEATH(fn, expect)          harness_expect_death(__FILE__, __LINE__, fn, SIGABRT, expect)
#define EXPECT_DEATH_SIG(fn, sig, expect) harness_expect_death(__FILE__, __LINE__, fn, sig, expect)

/* A fast deterministic PRNG for randomized tests (xorshift64*). */
static inline uint64_t harness_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

#endif /* KMEM_TEST_HARNESS_H */
