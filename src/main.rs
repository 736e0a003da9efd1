fn main() -> std::process::ExitCode {
    provision::main_entry()
}
