/// One setting of a configuration file, `key value...`, with where it was written.
struct ConfigurationLine: Sendable, Equatable {
    /// The file as it was named (see `ConfigurationDiagnostic.file`).
    var file: String
    /// Counting from 1.
    var number: Int
    var key: String
    /// Everything after the key, without the blanks around it; empty when the line has only a key.
    var value: String

    /// The value split at blanks.
    var words: [Substring] { value.split(whereSeparator: Self.isBlank) }

    /// `file:line`, for messages that point back at this line.
    var location: String { "\(file):\(number)" }

    /// A diagnostic at this line about this setting: `file:line: key: reason`.
    func diagnostic(_ reason: String) -> ConfigurationDiagnostic {
        ConfigurationDiagnostic(file: file, line: number, message: "\(key): \(reason)")
    }

    static func isBlank(_ character: Character) -> Bool {
        character == " " || character == "\t"
    }

    /// `text` without spaces, tabs, carriage returns and line feeds at either end.
    static func trimmingBlanks(_ text: some StringProtocol) -> String {
        let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" || $0 == "\r\n" }
        guard let first = text.firstIndex(where: { !isBlank($0) }),
              let last = text.lastIndex(where: { !isBlank($0) })
        else { return "" }
        return String(text[first...last])
    }

    /// Splits a file's bytes into settings, as Mosquitto reads them: a line whose first character is `#` is a
    /// comment, blank lines are skipped, the key ends at the first blank and the value is the rest of the line.
    ///
    /// Tern is more lenient than Mosquitto in three ways, none of which changes the meaning of a file Mosquitto
    /// accepts: tabs separate like spaces, blanks at either end of a line are dropped (CRLF line ends too), and a
    /// comment indented by blanks (which Mosquitto refuses as an unknown setting `#`) is skipped with a warning.
    /// - Throws: a diagnostic for a line that is not valid UTF-8.
    static func parse(_ bytes: [UInt8], file: String,
                      warnings: inout [ConfigurationDiagnostic]) throws(ConfigurationDiagnostic) -> [ConfigurationLine]
    {
        var lines: [ConfigurationLine] = []
        var number = 0
        var start = bytes.startIndex
        // A UTF-8 byte order mark, as some editors write, is not part of the first key.
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { start += 3 }
        while start < bytes.endIndex {
            number += 1
            let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.endIndex
            let raw = bytes[start..<end]
            start = end == bytes.endIndex ? end : end + 1
            if raw.first == UInt8(ascii: "#") { continue }
            guard let text = String(validating: raw, as: UTF8.self) else {
                throw ConfigurationDiagnostic(file: file, line: number, message: "not valid UTF-8")
            }
            let trimmed = trimmingBlanks(text)
            if trimmed.isEmpty { continue }
            if trimmed.hasPrefix("#") {
                warnings.append(ConfigurationDiagnostic(
                    file: file, line: number,
                    message: "a comment must start in the first column (Mosquitto refuses this line); ignored"))
                continue
            }
            let keyEnd = trimmed.firstIndex(where: isBlank) ?? trimmed.endIndex
            let key = String(trimmed[..<keyEnd])
            let value = trimmingBlanks(trimmed[keyEnd...])
            lines.append(ConfigurationLine(file: file, number: number, key: key, value: value))
        }
        return lines
    }
}
