use std::process::ExitCode;

fn main() -> ExitCode {
    cairn::main(std::env::args_os()).into()
}
