fn main() {
    std::process::exit(kinfra::cli::setup::main());
}
