/// Every heap block is wiped when it is freed (1Password's zeroizing-alloc): a secret that
/// passed through a `String`, a `Vec` that grew, or a serializer's buffer leaves no copy in
/// freed memory, which a crash dump or a memory read could otherwise expose. Owned secrets
/// are also `Secret`/`Zeroizing` values, wiped on drop. (Measured: without it, `init` leaves
/// every secret command name in freed memory; with it, no secret of the bundle is found.)
#[global_allocator]
static ALLOC: zeroizing_alloc::ZeroAlloc<std::alloc::System> =
    zeroizing_alloc::ZeroAlloc(std::alloc::System);

fn main() -> std::process::ExitCode {
    provision::main_entry()
}
