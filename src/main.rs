//! The edgesight binary: arguments in, library call, exit code out (see `edgesight::cli`).

fn main() -> std::process::ExitCode {
    edgesight::cli::main()
}
