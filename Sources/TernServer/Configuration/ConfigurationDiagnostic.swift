/// A problem found in a configuration file, located by file and line.
///
/// Loading throws one as its error (the broker must not start) and returns the others as warnings (the broker
/// starts; the caller logs them). The description reads like a compiler's:
/// `mosquitto.conf:12: max_keepalive: "abc" is not a number`.
public struct ConfigurationDiagnostic: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file as it was named: the path given to `load`, or an `include_dir` directory joined with a file name.
    public var file: String
    /// The line, counting from 1; nil when the problem concerns the whole file (it cannot be read).
    public var line: Int?
    /// What is wrong, starting with the setting's name when there is one.
    public var message: String

    public init(file: String, line: Int?, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String {
        if let line { "\(file):\(line): \(message)" } else { "\(file): \(message)" }
    }
}
