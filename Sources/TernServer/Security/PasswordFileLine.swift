/// One line of a password file, as both the broker's loader and `tern passwd` read it.
///
/// The rules follow Mosquitto 2.0's broker: a line is `username:password`, blanks around either part are
/// ignored, and so are lines that are empty or start with `#`. Where Mosquitto silently skips a line it cannot
/// use (no `:`) Tern reports it, so that a typo cannot quietly lock a user out.
struct PasswordFileLine: Sendable, Hashable {
    enum Content: Sendable, Hashable {
        /// Empty, only blanks, or a comment (first non-blank character `#`).
        case ignorable
        /// `username:field`, both trimmed of blanks; `field` is everything after the first `:`.
        case entry(username: String, field: ArraySlice<UInt8>)
    }

    /// 1-based.
    let number: Int
    /// The line's bytes including its `\n` terminator (absent on a last line without one).
    let raw: ArraySlice<UInt8>
    let content: Content

    /// Splits `contents` into lines and classifies each; the first line that is neither ignorable nor a
    /// well-formed `username:field` throws, with its number.
    static func parse(_ contents: [UInt8], path: String) throws(PasswordFileError) -> [PasswordFileLine] {
        var lines: [PasswordFileLine] = []
        var start = contents.startIndex
        var number = 0
        while start < contents.endIndex {
            number += 1
            let newline = contents[start...].firstIndex(of: UInt8(ascii: "\n"))
            let end = newline.map { $0 + 1 } ?? contents.endIndex
            let raw = contents[start..<end]
            do {
                lines.append(PasswordFileLine(number: number, raw: raw, content: try classify(raw)))
            } catch {
                throw PasswordFileError(path: path, line: number, reason: error)
            }
            start = end
        }
        return lines
    }

    static func classify(_ raw: ArraySlice<UInt8>) throws(PasswordFileError.Reason) -> Content {
        let line = trimmed(raw)
        if line.isEmpty || line.first == UInt8(ascii: "#") { return .ignorable }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { throw .missingSeparator }
        let nameBytes = trimmed(line[..<colon])
        let fieldBytes = trimmed(line[(colon + 1)...])
        guard !nameBytes.isEmpty else { throw .emptyUsername }
        guard nameBytes.count <= 65_535 else { throw .usernameTooLong }
        guard let username = String(validating: nameBytes, as: UTF8.self) else { throw .usernameNotUTF8 }
        guard !nameBytes.contains(0) else { throw .usernameContainsNull }
        guard !fieldBytes.isEmpty else { throw .missingPassword(username: username) }
        return .entry(username: username, field: fieldBytes)
    }

    /// C's `isspace` in the C locale, as Mosquitto's `misc__trimblanks` uses it.
    static func isBlank(_ byte: UInt8) -> Bool {
        byte == 0x20 || (0x09...0x0D).contains(byte)
    }

    static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        guard let first = bytes.firstIndex(where: { !isBlank($0) }),
              let last = bytes.lastIndex(where: { !isBlank($0) })
        else { return bytes[bytes.endIndex...] }
        return bytes[first...last]
    }
}
