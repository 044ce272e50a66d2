//! Compiles the ticketing gRPC protos with protox (no system `protoc`) and writes their
//! descriptor set for the reflection service.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["ferrobase/ticketing/v1/tickets.proto"];
    for proto in protos {
        println!("cargo:rerun-if-changed=proto/{proto}");
    }
    let descriptors = protox::compile(protos, ["proto"])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("ticketing_descriptor.bin"), prost::Message::encode_to_vec(&descriptors))?;
    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(descriptors)?;
    Ok(())
}
