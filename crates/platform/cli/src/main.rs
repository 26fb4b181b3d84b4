//! `baton`: the command line (the program is the library's [`baton_cli::main`]).
fn main() {
    baton_cli::main()
}
