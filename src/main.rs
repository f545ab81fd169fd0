fn main() {
    std::process::exit(kinfra::cli::main());
}
