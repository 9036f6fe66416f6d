import MQTTCore

/// The value kinds of configuration settings. Each reads the value of a line or throws a diagnostic naming the file,
/// the line, the setting and what is wrong with the value.
extension ConfigurationParser {
    /// The single word a setting takes. Text after it is ignored, as Mosquitto ignores it, with a warning (a `#`
    /// there does not start a comment in Mosquitto's syntax, so the warning says what was dropped).
    mutating func word(_ line: ConfigurationLine) throws(ConfigurationDiagnostic) -> String {
        let words = line.words
        guard let first = words.first else { throw line.diagnostic("missing value") }
        if words.count > 1 {
            warnings.append(line.diagnostic("text after the value ignored: \"\(words[1...].joined(separator: " "))\""))
        }
        return String(first)
    }

    /// `true` or `false`; Mosquitto also takes `1` and `0`.
    mutating func bool(_ line: ConfigurationLine) throws(ConfigurationDiagnostic) -> Bool {
        switch try word(line) {
        case "true", "1": return true
        case "false", "0": return false
        case let other: throw line.diagnostic("\"\(other)\" is not true or false")
        }
    }

    /// A decimal integer, optionally signed, within `range`.
    mutating func integer(_ line: ConfigurationLine,
                          in range: ClosedRange<Int> = Int.min...Int.max) throws(ConfigurationDiagnostic) -> Int
    {
        let written = try word(line)
        guard let value = Int(written) else {
            let digits = written.drop { $0 == "-" || $0 == "+" }
            if !digits.isEmpty && digits.allSatisfy(\.isASCIIDigit) && written.count - digits.count <= 1 {
                throw line.diagnostic("\(written) is too large")
            }
            throw line.diagnostic("\"\(written)\" is not a number")
        }
        guard range.contains(value) else {
            if range.upperBound == Int.max {
                throw line.diagnostic("\(value) is less than \(range.lowerBound)")
            }
            if range.lowerBound == Int.min {
                throw line.diagnostic("\(value) is more than \(range.upperBound)")
            }
            throw line.diagnostic("\(value) is not between \(range.lowerBound) and \(range.upperBound)")
        }
        return value
    }

    /// A QoS level: 0, 1 or 2.
    mutating func qos(_ line: ConfigurationLine) throws(ConfigurationDiagnostic) -> QoS {
        QoS(rawValue: UInt8(try integer(line, in: 0...2)))!
    }

    /// The rest of the line, spaces included, as written.
    func text(_ line: ConfigurationLine) throws(ConfigurationDiagnostic) -> String {
        guard !line.value.isEmpty else { throw line.diagnostic("missing value") }
        return line.value
    }

    /// A path: the rest of the line, made absolute against the current directory, as Mosquitto (which uses paths
    /// as given, from its current directory) would find it.
    func path(_ line: ConfigurationLine) throws(ConfigurationDiagnostic) -> String {
        ConfigurationFiles.absolute(try text(line), from: currentDirectory)
    }

    /// One of the given words, case-sensitive as in Mosquitto.
    mutating func choice<Value>(_ line: ConfigurationLine,
                                _ options: [(String, Value)]) throws(ConfigurationDiagnostic) -> Value
    {
        let written = try word(line)
        guard let match = options.first(where: { $0.0 == written }) else {
            throw line.diagnostic("\"\(written)\" is not one of \(options.map(\.0).joined(separator: ", "))")
        }
        return match.1
    }

    /// Mosquitto's duration: a positive whole number followed by `h` (hours), `d` (days), `w` (weeks), `m` (months
    /// of 30 days) or `y` (years of 365 days), as in `14d`. In seconds.
    mutating func duration(_ line: ConfigurationLine) throws(ConfigurationDiagnostic) -> UInt32 {
        let written = try word(line)
        let units: [Character: Int] = ["h": 3_600, "d": 86_400, "w": 7 * 86_400, "m": 30 * 86_400, "y": 365 * 86_400]
        guard let unit = written.last.flatMap({ units[$0] }), let count = Int(written.dropLast()),
              written.dropLast().allSatisfy(\.isASCIIDigit)
        else {
            throw line.diagnostic("\"\(written)\" is not a duration: a number followed by h, d, w, m or y, as in 14d")
        }
        guard count > 0 else { throw line.diagnostic("\"\(written)\" is not a duration longer than 0") }
        let (seconds, overflow) = count.multipliedReportingOverflow(by: unit)
        guard !overflow, let value = UInt32(exactly: seconds) else {
            throw line.diagnostic("\"\(written)\" is too long (at most \(UInt32.max / 86_400) days)")
        }
        return value
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
