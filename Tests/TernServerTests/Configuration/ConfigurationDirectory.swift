import Foundation
import TernServer

/// A temporary directory that tests write configuration files into and load them from; it is the current
/// directory of every load, so diagnostics name files as `mosquitto.conf:3`. Removed when released.
final class ConfigurationDirectory {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.path + "/tern-configuration-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Writes `text` to `name` (a path relative to the directory; folders are created) and returns its absolute
    /// path.
    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        let file = path + "/" + name
        let folder = (file as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: file))
        return file
    }

    func write(_ name: String, bytes: [UInt8]) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path + "/" + name))
    }

    func makeDirectory(_ name: String) throws {
        try FileManager.default.createDirectory(atPath: path + "/" + name, withIntermediateDirectories: true)
    }

    /// Loads `name` with this directory as the current directory.
    func load(_ name: String = "mosquitto.conf", port: Int = 1883)
        throws(ConfigurationDiagnostic) -> (configuration: BrokerConfiguration, warnings: [ConfigurationDiagnostic])
    {
        try BrokerConfiguration.load(path: name, port: port, currentDirectory: path)
    }

    /// Writes `text` as mosquitto.conf and loads it.
    func load(text: String, port: Int = 1883)
        throws -> (configuration: BrokerConfiguration, warnings: [ConfigurationDiagnostic])
    {
        try write("mosquitto.conf", text)
        return try load(port: port)
    }

    /// Writes `text` as mosquitto.conf, loads it and returns the configuration.
    func configuration(_ text: String, port: Int = 1883) throws -> BrokerConfiguration {
        try load(text: text, port: port).configuration
    }

    /// Writes `text` as mosquitto.conf, loads it and returns the warnings, as their descriptions.
    func warnings(_ text: String) throws -> [String] {
        try load(text: text).warnings.map(\.description)
    }

    /// Writes `text` as mosquitto.conf and returns the description of the error loading it, nil if it loaded.
    func error(_ text: String) throws -> String? {
        try write("mosquitto.conf", text)
        do {
            _ = try load()
            return nil
        } catch {
            return error.description
        }
    }

    /// `name` made absolute in this directory, as the configuration reports paths.
    func absolute(_ name: String) -> String {
        path + "/" + name
    }
}
