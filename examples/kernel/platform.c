/* SPDX-License-Identifier: MIT */
/*
 * platform.c - every hook of include/kmem/platform.h for this one-CPU
 * kernel, the four memory functions the core needs, leaving qemu, and an
 * IDT that turns CPU exceptions into a failing exit.
 *
 * One CPU, interrupts off, no scheduler: kmem_pl_cpu_id is 0, a lock wait is
 * a pause (the lock's holder can only be ourselves, which the core never
 * waits for; a spurious return is allowed), wakes and yields do nothing.
 * kmem_pl_map and kmem_pl_unmap write the vmalloc range's 4 KiB PTEs, whose
 * page tables paging.c reserved at boot, so they never allocate (the
 * contract forbids allocating through kmem, and this kernel has no other
 * allocator); unmapping invalidates each page's TLB entry.
 *
 * Exits: qemu's isa-debug-exit device at port 0xf4 ends qemu with status
 * (v << 1) | 1. Only kmain writes EXIT_PASS; a panic, an exception or a
 * failure writes another value, and a triple fault (qemu -no-reboot exits
 * 0) or a hang (the runner's timeout) cannot look like a pass either.
 *
 * Compiled with -fno-builtin (CMakeLists.txt) so that gcc does not turn the
 * memory functions' loops into calls to themselves.
 */
#include <kmem/platform.h>

#include "io.h"
#include "kernel.h"

_Noreturn void qemu_exit(enum exit_code code)
{
    outb(0xf4, (uint8_t)code);
    for (;;) /* without the device: stop here, which the runner times out */
        __asm__ __volatile__("cli; hlt");
}

_Noreturn void kernel_fail(enum exit_code code, const char *why)
{
    kprintf("kernel: FAILED: %s\n", why);
    qemu_exit(code);
}

/* ---- the hooks ------------------------------------------------------------ */

void kmem_pl_write(const char *text, size_t len)
{
    serial_write(text, len);
}

_Noreturn void kmem_pl_panic(const char *message)
{
    (void)message; /* kmem has written it already */
    kprintf("kernel: PANIC from kmem\n");
    qemu_exit(EXIT_PANIC);
}

void kmem_pl_lock_wait(int *word, int value)
{
    (void)word;
    (void)value;
    __builtin_ia32_pause();
}

void kmem_pl_lock_wake(int *word)
{
    (void)word;
}

void kmem_pl_yield(void)
{
}

unsigned int kmem_pl_cpu_id(void)
{
    return 0;
}

void kmem_pl_cpu_attach(struct kmem_cpu *cpu)
{
    (void)cpu; /* the CPU never goes away */
}

unsigned int kmem_pl_stack(void **frames, unsigned int max)
{
    /* The core is built without frame pointers: only our caller is known. */
    if (!max)
        return 0;
    frames[0] = __builtin_return_address(0);
    return 1;
}

static bool in_vmalloc(uintptr_t va, size_t bytes)
{
    return va >= VMALLOC_START && bytes <= VMALLOC_SIZE &&
           va - VMALLOC_START <= VMALLOC_SIZE - bytes;
}

int kmem_pl_map(void *virt, phys_addr_t phys, size_t bytes)
{
    uintptr_t va = (uintptr_t)virt;
    if (!in_vmalloc(va, bytes) || ((va | phys | bytes) & 0xfff))
        return -22; /* EINVAL: kmem never asks this */
    uint64_t *pte = vmalloc_ptes() + ((va - VMALLOC_START) >> 12);
    /* Present, writable; the range held nothing (a reservation), so there is
     * no stale TLB entry to flush. */
    for (size_t off = 0; off < bytes; off += 4096)
        *pte++ = (phys + off) | 0x3;
    return 0;
}

void kmem_pl_unmap(void *virt, size_t bytes)
{
    uintptr_t va = (uintptr_t)virt;
    if (!in_vmalloc(va, bytes))
        kernel_fail(EXIT_PANIC, "kmem_pl_unmap outside the vmalloc range");
    uint64_t *pte = vmalloc_ptes() + ((va - VMALLOC_START) >> 12);
    for (size_t off = 0; off < bytes; off += 4096) {
        *pte++ = 0;
        invlpg((const void *)(va + off));
    }
}

/* The memory functions: src/platform/freestanding/x86_string.c. */

/* ---- exceptions ------------------------------------------------------------- */

/* One stub per vector 0..31: those without a CPU error code push a 0, then
 * all push their vector and call exception_entry with the frame. */
__asm__(
    ".text\n"
    ".macro EXC_STUB v\n"
    "exc_stub_\\v:\n"
    ".if (\\v == 8) || (\\v >= 10 && \\v <= 14) || (\\v == 17) || (\\v == 21) || (\\v >= 29 && \\v "
    "<= 30)\n"
    "    pushq $\\v\n"
    ".else\n"
    "    pushq $0\n"
    "    pushq $\\v\n"
    ".endif\n"
    "    mov %rsp, %rdi\n"
    "    and $-16, %rsp\n"
    "    call exception_entry\n"
    ".endm\n"
    ".irp v,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31\n"
    "EXC_STUB \\v\n"
    ".endr\n"
    ".section .rodata\n"
    ".balign 8\n"
    "exc_stubs:\n"
    ".irp v,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31\n"
    "    .quad exc_stub_\\v\n"
    ".endr\n"
    ".text\n");

extern const uint64_t exc_stubs[32];

struct exc_frame {
    uint64_t vector, error, rip, cs, rflags, rsp, ss;
};

_Noreturn void exception_entry(const struct exc_frame *f);

_Noreturn void exception_entry(const struct exc_frame *f)
{
    kprintf("kernel: EXCEPTION vector=%lu error=0x%lx rip=0x%lx rsp=0x%lx cr2=0x%lx\n",
            (unsigned long)f->vector, (unsigned long)f->error, (unsigned long)f->rip,
            (unsigned long)f->rsp, (unsigned long)read_cr2());
    qemu_exit(EXIT_EXCEPTION);
}

struct idt_gate {
    uint16_t offset_lo, selector;
    uint8_t ist, type;
    uint16_t offset_mid;
    uint32_t offset_hi, reserved;
} __attribute__((packed));

static struct idt_gate idt[32] __attribute__((aligned(16)));

void idt_init(void)
{
    for (int v = 0; v < 32; v++) {
        uint64_t a = exc_stubs[v];
        idt[v] = (struct idt_gate){.offset_lo = (uint16_t)a,
                                   .selector = 0x08,
                                   .type = 0x8E, /* present, ring 0, interrupt gate */
                                   .offset_mid = (uint16_t)(a >> 16),
                                   .offset_hi = (uint32_t)(a >> 32)};
    }
    struct {
        uint16_t limit;
        uint64_t base;
    } __attribute__((packed)) idtr = {sizeof idt - 1, (uint64_t)(uintptr_t)idt};
    __asm__ __volatile__("lidt %0" : : "m"(idtr));
}
