/* SPDX-License-Identifier: MIT */
/*
 * boot.S - from the Multiboot loader's 32-bit protected mode to kmain in
 * 64-bit long mode.
 *
 * The loader (qemu -kernel) enters _start with paging off, %eax holding the
 * Multiboot magic and %ebx the physical address of the information
 * structure. We check the magic (a wrong one exits qemu with EXIT_BOOT
 * rather than run on garbage), build PAE page tables that identity-map the
 * first 1 GiB with 2 MiB pages (enough for the kernel, its stack and the
 * boot allocations; paging.c adds the direct map and vmalloc's tables to the
 * same PML4 later), enable long mode, load a GDT with a 64-bit code
 * segment, and jump to 64-bit code, which enables SSE (the core's 32-byte
 * vector XOR in magazine.c may compile to SSE instructions) and calls
 * kmain(magic, mbi) on the boot stack. Interrupts stay off for good.
 */

#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003 /* page-aligned modules, memory information */

    .section .multiboot, "a"
    .balign 4
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)

    .section .bss
    .balign 4096
    .globl boot_pml4
boot_pml4:
    .skip 4096
boot_pdpt_low:
    .skip 4096
boot_pd_low:
    .skip 4096
    .globl boot_page_tables_end
boot_page_tables_end:
    .balign 16
boot_stack:
    .skip 65536
boot_stack_top:

    .section .rodata
    .balign 8
gdt:
    .quad 0                  /* null */
    .quad 0x00af9a000000ffff /* 0x08: 64-bit code, present, ring 0 */
    .quad 0x00cf92000000ffff /* 0x10: data, present, writable */
gdt_end:
gdt_ptr:
    .word gdt_end - gdt - 1
    .quad gdt

    .section .text
    .code32
    .globl _start
    .type _start, @function
_start:
    cli
    cld
    cmpl $0x2BADB002, %eax
    jne bad_magic
    mov %ebx, %esi /* kept for kmain (32-bit registers survive the switch) */
    mov %eax, %edi

    /* PML4[0] -> PDPT, PDPT[0] -> PD, PD[i] = i * 2 MiB (present, writable,
     * page size). The .bss is zero: the loader clears it. */
    mov $boot_pdpt_low, %eax
    or $0x3, %eax
    mov %eax, boot_pml4
    mov $boot_pd_low, %eax
    or $0x3, %eax
    mov %eax, boot_pdpt_low
    xor %ecx, %ecx
1:  mov %ecx, %eax
    shl $21, %eax
    or $0x83, %eax
    mov %eax, boot_pd_low(, %ecx, 8)
    movl $0, boot_pd_low + 4(, %ecx, 8)
    inc %ecx
    cmp $512, %ecx
    jne 1b

    mov %cr4, %eax
    or $(1 << 5), %eax /* PAE */
    mov %eax, %cr4
    mov $boot_pml4, %eax
    mov %eax, %cr3
    mov $0xC0000080, %ecx /* EFER */
    rdmsr
    or $(1 << 8), %eax /* LME */
    wrmsr
    mov %cr0, %eax
    or $0x80000001, %eax /* PG | PE */
    mov %eax, %cr0

    lgdt gdt_ptr
    ljmp $0x08, $long_mode

bad_magic:
    mov $0x14, %al /* EXIT_BOOT */
    outb %al, $0xf4
2:  hlt
    jmp 2b

    .code64
long_mode:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    xor %ax, %ax
    mov %ax, %fs
    mov %ax, %gs
    /* SSE: CR0.EM = 0, CR0.MP = 1; CR4.OSFXSR | CR4.OSXMMEXCPT. */
    mov %cr0, %rax
    and $~(1 << 2), %rax
    or $(1 << 1), %rax
    mov %rax, %cr0
    mov %cr4, %rax
    or $(3 << 9), %rax
    mov %rax, %cr4
    mov $boot_stack_top, %rsp
    xor %ebp, %ebp
    /* %edi = magic, %esi = mbi: zero-extended, the System V arguments. */
    mov %edi, %edi
    mov %esi, %esi
    call kmain
3:  hlt
    jmp 3b
    .size _start, . - _start

    .section .note.GNU-stack, "", @progbits
