import Foundation
import MQTTClient
import MQTTCore
import NIOCore

/// How `tern sub` prints a message: the payload, `topic payload` with -v, or a `-F` format with mosquitto_sub's
/// specifiers (`%t %p %q %r %l %m %x %X %I %U %j %%`, `@` for strftime fields, `\n \t \\ \e` escapes).
struct MessageFormat {
    var verbose = false
    var format: String?
    var endOfLine = true

    func render(_ message: MQTTMessage, now: Date = Date()) -> [UInt8] {
        var out: [UInt8] = []
        let payload = Array(message.payload.readableBytesView)
        if let format {
            render(format, message, payload, now, into: &out)
        } else {
            if verbose {
                out += Array(message.topic.utf8)
                out.append(UInt8(ascii: " "))
            }
            out += payload
        }
        if endOfLine { out.append(UInt8(ascii: "\n")) }
        return out
    }

    private func render(_ format: String, _ message: MQTTMessage, _ payload: [UInt8], _ now: Date,
                        into out: inout [UInt8])
    {
        let chars = Array(format.unicodeScalars)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if (c == "%" || c == "@" || c == "\\") && i + 1 < chars.count {
                let next = chars[i + 1]
                i += 2
                switch (c, next) {
                case ("%", "%"): out.append(UInt8(ascii: "%"))
                case ("%", "t"): out += Array(message.topic.utf8)
                case ("%", "p"): out += payload
                case ("%", "q"): out += Array("\(message.qos.rawValue)".utf8)
                case ("%", "r"): out += Array((message.retain ? "1" : "0").utf8)
                case ("%", "l"): out += Array("\(payload.count)".utf8)
                case ("%", "m"): out += Array("0".utf8)
                case ("%", "x"): out += Array(payload.map { String(format: "%02x", $0) }.joined().utf8)
                case ("%", "X"): out += Array(payload.map { String(format: "%02X", $0) }.joined().utf8)
                case ("%", "I"): out += Array(Self.strftime("%Y-%m-%dT%H:%M:%S%z", now).utf8)
                case ("%", "U"):
                    let seconds = now.timeIntervalSince1970
                    let nanoseconds = Int((seconds - seconds.rounded(.down)) * 1_000_000_000)
                    out += Array("\(Int(seconds)).\(String(format: "%09d", nanoseconds))".utf8)
                case ("%", "j"): out += Array(json(message, payload, now).utf8)
                case ("@", "@"): out.append(UInt8(ascii: "@"))
                case ("@", _): out += Array(Self.strftime("%" + String(next), now).utf8)
                case ("\\", "n"): out.append(UInt8(ascii: "\n"))
                case ("\\", "t"): out.append(UInt8(ascii: "\t"))
                case ("\\", "\\"): out.append(UInt8(ascii: "\\"))
                case ("\\", "e"): out.append(0x1B)
                case ("\\", "0"): out.append(0)
                default:
                    out += Array(String(c).utf8) + Array(String(next).utf8)
                }
            } else {
                out += Array(String(c).utf8)
                i += 1
            }
        }
    }

    private func json(_ message: MQTTMessage, _ payload: [UInt8], _ now: Date) -> String {
        let micro = Int((now.timeIntervalSince1970 - now.timeIntervalSince1970.rounded(.down)) * 1_000_000)
        let tst = Self.strftime("%Y-%m-%dT%H:%M:%S", now, utc: true) + String(format: ".%06dZ+0000", micro)
        var text = "{\"tst\":\"\(tst)\",\"topic\":\(Self.quote(message.topic)),\"qos\":\(message.qos.rawValue)"
        text += ",\"retain\":\(message.retain ? 1 : 0),\"payloadlen\":\(payload.count)"
        if let string = String(validating: payload, as: UTF8.self) {
            text += ",\"payload\":\(Self.quote(string))"
        } else {
            text += ",\"payload\":null"
        }
        return text + "}"
    }

    static func quote(_ string: String) -> String {
        var out = "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    static func strftime(_ format: String, _ date: Date, utc: Bool = false) -> String {
        var time = time_t(date.timeIntervalSince1970)
        var parts = tm()
        if utc { gmtime_r(&time, &parts) } else { localtime_r(&time, &parts) }
        var buffer = [Int8](repeating: 0, count: 128)
        let count = Foundation.strftime(&buffer, buffer.count, format, &parts)
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
