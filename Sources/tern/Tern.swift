import ArgumentParser

@main
struct Tern: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tern",
        abstract: "Tern: an MQTT 3.1, 3.1.1 and 5.0 broker and toolkit.",
        subcommands: [Serve.self, Passwd.self, Pub.self, Sub.self, Bench.self])
}
