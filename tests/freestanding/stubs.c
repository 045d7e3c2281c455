/* SPDX-License-Identifier: MIT */
/*
 * stubs.c - a complete host for kmem's core with no C library: every hook of
 * include/kmem/platform.h, the four memory functions the core may call
 * (memset, memcpy, memmove, memcmp), raw system calls and the _start entry.
 *
 * A single "CPU" (cpu_id 0), no scheduler: a lock wait is one pause and a
 * wake does nothing. Messages go to fd 2 with the write system call; a panic
 * exits with KFS_PANIC_STATUS.
 *
 * Memory as a kernel has it: kfs_machine_setup backs the self-test's static
 * "RAM" with a memfd mapped MAP_SHARED over it, and reserves a PROT_NONE
 * vmalloc range. kmem_pl_map maps memfd pages into the range at their
 * physical offsets (a frame then appears at two addresses, as under a
 * kernel's page tables); kmem_pl_unmap maps PROT_NONE anonymous memory over
 * them again, so the range stays reserved.
 *
 * x86_64 or i386 Linux (the -m32 self-test; system calls through int 0x80,
 * mmap2 with its offset in pages); the CMakeLists skips the directory on
 * other hosts. Compiled
 * with -fno-builtin so that the compiler does not turn the loops below into
 * calls to the very functions they implement.
 */
#include <kmem/platform.h>

#include "kfs.h"

#if defined(__x86_64__)
enum {
    SYS_write = 1,
    SYS_mmap = 9,
    SYS_ftruncate = 77,
    SYS_exit_group = 231,
    SYS_memfd_create = 319,
};
#else /* i386: int 0x80 and its own numbers */
enum {
    SYS_write = 4,
    SYS_ftruncate = 93,
    SYS_mmap2 = 192, /* the offset in 4 KiB units */
    SYS_exit_group = 252,
    SYS_memfd_create = 356,
};
#endif
enum {
    PROT_NONE = 0,
    PROT_RW = 3, /* PROT_READ | PROT_WRITE */
    MAP_SHARED = 0x01,
    MAP_PRIVATE = 0x02,
    MAP_FIXED = 0x10,
    MAP_ANONYMOUS = 0x20,
    MAP_NORESERVE = 0x4000,
};

#if defined(__x86_64__)
static long syscall3(long nr, long a, long b, long c)
{
    long ret;
    __asm__ __volatile__("syscall"
                         : "=a"(ret)
                         : "a"(nr), "D"(a), "S"(b), "d"(c)
                         : "rcx", "r11", "memory");
    return ret;
}

static long syscall6(long nr, long a, long b, long c, long d, long e, long f)
{
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ __volatile__("syscall"
                         : "=a"(ret)
                         : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                         : "rcx", "r11", "memory");
    return ret;
}

/* mmap as the system call returns it: an address, or -errno (-4095..-1). */
static long sys_mmap(void *addr, size_t len, int prot, int flags, int fd, long off)
{
    return syscall6(SYS_mmap, (long)addr, (long)len, prot, flags, fd, off);
}
#else
static long syscall3(long nr, long a, long b, long c)
{
    long ret;
    __asm__ __volatile__("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
    return ret;
}

/* Six arguments: the sixth goes in %ebp, which the compiler may be using
 * as the frame pointer and every other register is taken, so %eax points
 * at {number, sixth} and the asm swaps %ebp around the call. */
static long syscall6(long nr, long a, long b, long c, long d, long e, long f)
{
    long nr_and_f[2] = {nr, f};
    long ret;
    __asm__ __volatile__("push %%ebp\n\t"
                         "mov 4(%%eax), %%ebp\n\t"
                         "mov (%%eax), %%eax\n\t"
                         "int $0x80\n\t"
                         "pop %%ebp"
                         : "=a"(ret)
                         : "a"(nr_and_f), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e)
                         : "memory");
    return ret;
}

/* mmap2 takes the offset in pages (every offset here is page-aligned). */
static long sys_mmap(void *addr, size_t len, int prot, int flags, int fd, long off)
{
    return syscall6(SYS_mmap2, (long)addr, (long)len, prot, flags, fd, off >> 12);
}
#endif

static int mmap_failed(long ret)
{
    return ret < 0 && ret >= -4095;
}

void kfs_write(int fd, const char *text, size_t len)
{
    while (len) {
        long n = syscall3(SYS_write, fd, (long)text, (long)len);
        if (n == -4) /* EINTR */
            continue;
        if (n <= 0)
            return;
        text += n;
        len -= (size_t)n;
    }
}

_Noreturn void kfs_exit(int status)
{
    for (;;)
        syscall3(SYS_exit_group, status, 0, 0);
}

void kfs_puts(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    kfs_write(1, s, n);
}

void kfs_putu(unsigned long v)
{
    char buf[24];
    char *p = buf + sizeof buf;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    kfs_write(1, p, (size_t)(buf + sizeof buf - p));
}

/* ---- the hooks ------------------------------------------------------------ */

unsigned int kfs_attach_calls;
unsigned int kfs_write_calls;

void kmem_pl_write(const char *text, size_t len)
{
    kfs_write_calls++;
    kfs_write(2, text, len);
}

_Noreturn void kmem_pl_panic(const char *message)
{
    (void)message; /* already written */
    kfs_puts("freestanding: panic hook called\n");
    kfs_exit(KFS_PANIC_STATUS);
}

void kmem_pl_lock_wait(int *word, int value)
{
    (void)word;
    (void)value;
    __builtin_ia32_pause(); /* a spurious return is allowed */
}

void kmem_pl_lock_wake(int *word)
{
    (void)word;
}

void kmem_pl_yield(void)
{
}

unsigned int kmem_pl_stack(void **frames, unsigned int max)
{
    /* No unwinder here: the innermost caller only, from the frame record. */
    if (max)
        frames[0] = __builtin_return_address(0);
    return max ? 1 : 0;
}

unsigned int kmem_pl_cpu_id(void)
{
    return 0;
}

void kmem_pl_cpu_attach(struct kmem_cpu *cpu)
{
    (void)cpu;
    kfs_attach_calls++;
}

/* ---- the machine's memory and the vmalloc hooks ------------------------------ */

static int ram_fd = -1;
unsigned int kfs_map_calls;
unsigned int kfs_unmap_calls;

void *kfs_machine_setup(void *ram, size_t ram_bytes, size_t vmalloc_bytes)
{
    long fd = syscall3(SYS_memfd_create, (long)"kfs-ram", 0, 0);
    if (fd < 0 || syscall3(SYS_ftruncate, fd, (long)ram_bytes, 0) != 0)
        return 0;
    /* The RAM has not been used yet: replacing its zero pages loses nothing. */
    if (mmap_failed(sys_mmap(ram, ram_bytes, PROT_RW, MAP_SHARED | MAP_FIXED, (int)fd, 0)))
        return 0;
    long range =
        sys_mmap(0, vmalloc_bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mmap_failed(range))
        return 0;
    ram_fd = (int)fd;
    return (void *)range;
}

int kmem_pl_map(void *virt, phys_addr_t phys, size_t bytes)
{
    kfs_map_calls++;
    if (ram_fd < 0)
        return -19; /* ENODEV: no vmalloc range was set up */
    long ret = sys_mmap(virt, bytes, PROT_RW, MAP_SHARED | MAP_FIXED, ram_fd, (long)phys);
    return mmap_failed(ret) ? (int)ret : 0;
}

void kmem_pl_unmap(void *virt, size_t bytes)
{
    kfs_unmap_calls++;
    long ret = sys_mmap(virt, bytes, PROT_NONE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
    if (mmap_failed(ret)) {
        kfs_puts("freestanding: kmem_pl_unmap failed\n");
        kfs_exit(3);
    }
}

/* The memory functions: src/platform/freestanding/x86_string.c. */

/* ---- the entry point ------------------------------------------------------- */

#if defined(__x86_64__)
/* The kernel enters with %rsp pointing at argc, 16-byte aligned: call C with
 * the stack pointer as argument and exit with its return value. */
__asm__(".text\n"
        ".globl _start\n"
        ".type _start, @function\n"
        "_start:\n"
        "    xor %ebp, %ebp\n"
        "    mov %rsp, %rdi\n"
        "    and $-16, %rsp\n"
        "    call kfs_start\n"
        "    mov %eax, %edi\n"
        "    mov $231, %eax\n"
        "    syscall\n"
        "    hlt\n"
        ".size _start, . - _start\n");
#else
/* i386: %esp points at argc; the argument goes on a 16-byte aligned stack
 * (the i386 System V ABI's alignment at a call). */
__asm__(".text\n"
        ".globl _start\n"
        ".type _start, @function\n"
        "_start:\n"
        "    xor %ebp, %ebp\n"
        "    mov %esp, %eax\n"
        "    and $-16, %esp\n"
        "    sub $12, %esp\n"
        "    push %eax\n"
        "    call kfs_start\n"
        "    mov %eax, %ebx\n"
        "    mov $252, %eax\n"
        "    int $0x80\n"
        "    hlt\n"
        ".size _start, . - _start\n");
#endif

int kfs_start(long *sp)
{
    int argc = (int)sp[0];
    char **argv = (char **)(sp + 1);
    return kfs_main(argc, argv);
}
