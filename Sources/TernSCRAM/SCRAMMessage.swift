import Foundation

/// A SCRAM message as its `name=value` attributes, comma-separated (RFC 5802 section 5.1).
struct SCRAMMessage {
    var attributes: [(name: Character, value: String)]

    init(_ attributes: [(name: Character, value: String)]) {
        self.attributes = attributes
    }

    /// Parses `a=1,b=2`; every attribute is one letter, `=`, and a value without commas.
    init(parsing bytes: [UInt8]) throws(SCRAMError) {
        guard let text = String(bytes: bytes, encoding: .utf8) else { throw .malformedMessage("not UTF-8") }
        try self.init(parsing: Substring(text))
    }

    init(parsing text: Substring) throws(SCRAMError) {
        attributes = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard part.count >= 2, let name = part.first, name.isASCII, name.isLetter,
                part[part.index(after: part.startIndex)] == "="
            else { throw .malformedMessage("bad attribute '\(part.prefix(16))'") }
            attributes.append((name, String(part.dropFirst(2))))
        }
    }

    /// The value of the attribute at `position`, which must be `name`.
    func value(_ name: Character, at position: Int) throws(SCRAMError) -> String {
        guard position < attributes.count, attributes[position].name == name else {
            throw .malformedMessage("expected attribute '\(name)' at position \(position + 1)")
        }
        return attributes[position].value
    }

    var text: String { attributes.map { "\($0.name)=\($0.value)" }.joined(separator: ",") }
    var bytes: [UInt8] { Array(text.utf8) }

    /// A user name as `saslname`: `,` and `=` escaped as `=2C` and `=3D` (RFC 5802 section 5.1).
    static func escape(_ name: String) -> String {
        name.replacingOccurrences(of: "=", with: "=3D").replacingOccurrences(of: ",", with: "=2C")
    }

    static func unescape(_ name: String) throws(SCRAMError) -> String {
        var result = ""
        var rest = Substring(name)
        while let index = rest.firstIndex(of: "=") {
            result += rest[..<index]
            let code = rest[index...].prefix(3)
            switch code {
            case "=2C": result += ","
            case "=3D": result += "="
            default: throw .malformedMessage("bad escape in user name")
            }
            rest = rest[index...].dropFirst(3)
        }
        return result + rest
    }

    static func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }

    static func decodeBase64(_ text: String, _ what: String) throws(SCRAMError) -> [UInt8] {
        guard let data = Data(base64Encoded: text) else { throw .malformedMessage("\(what) is not Base64") }
        return Array(data)
    }

    /// A printable nonce from the system's random generator (24 random bytes as Base64: no commas).
    static func makeNonce() -> String {
        var generator = SystemRandomNumberGenerator()
        return base64((0..<24).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }

    /// Nonces are printable ASCII other than `,` (RFC 5802 section 5.1).
    static func isValidNonce(_ nonce: String) -> Bool {
        !nonce.isEmpty && nonce.utf8.allSatisfy { (0x21...0x7E).contains($0) && $0 != 0x2C }
    }
}
