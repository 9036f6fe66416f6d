import MQTTCore

/// One line of an access control list, read exactly as Mosquitto 2.0 reads it (`aclfile__parse`), so that a file
/// means the same to both brokers:
///
/// - Trailing white space (space, tab, CR, LF, VT, FF) is removed first; a CRLF file is therefore fine.
/// - A line whose *first character* is `#` is a comment. An indented `#` is not: it is read as an (unknown)
///   keyword, an error.
/// - Words are separated by spaces only. Leading spaces are skipped; a tab does not separate words, so
///   `topic<TAB>read a` is the unknown keyword `topic<TAB>read`.
/// - `user NAME`: the name is the rest of the line with white space (tabs too) trimmed from both ends, so it may
///   contain spaces (`user bob smith`).
/// - `topic|pattern WORD REST`: `WORD` is the access word and `REST`, trimmed, the filter, which may contain spaces.
///   With only `WORD`, `WORD` is the filter and the access is read and write (`topic read` is the topic `read`).
/// - Keywords and access words are case-sensitive.
enum AccessControlLine: Sendable, Hashable {
    /// Empty, blank, or a comment.
    case ignorable
    /// `user NAME`.
    case user(String)
    /// `topic ...` (`isPattern` false) or `pattern ...`. `accessWordAsFilter` is set when the only word after the
    /// keyword is an access word, used as the filter.
    case rule(isPattern: Bool, access: AccessRule.Access, filter: String, accessWordAsFilter: Bool)

    /// Reads one line (without its terminating LF).
    static func parse(_ line: ArraySlice<UInt8>) throws(AccessControlListError.Reason) -> AccessControlLine {
        var end = line.endIndex
        while end > line.startIndex && isSpace(line[end - 1]) { end -= 1 }
        let line = line[line.startIndex..<end]
        if line.first == UInt8(ascii: "#") { return .ignorable }
        var cursor = line.startIndex
        guard let keyword = nextWord(line, &cursor) else { return .ignorable }
        if line.contains(0) { throw .containsNull }
        switch string(keyword) {
        case "user":
            guard let name = rest(line, cursor) else { throw .missingUsername }
            return .user(string(name))
        case let keyword where keyword == "topic" || keyword == "pattern":
            guard let word = nextWord(line, &cursor) else { throw .missingTopic(keyword: keyword) }
            let access: AccessRule.Access
            let filter: String
            var accessWordAsFilter = false
            if let rest = rest(line, cursor) {
                guard let known = AccessRule.Access(rawValue: string(word)) else {
                    throw .unknownAccess(string(word))
                }
                access = known
                filter = string(rest)
            } else {
                access = .readWrite
                filter = string(word)
                accessWordAsFilter = AccessRule.Access(rawValue: filter) != nil
            }
            do {
                try TopicFilter.validate(filter)
            } catch {
                throw .invalidFilter(filter, error)
            }
            return .rule(isPattern: keyword == "pattern", access: access, filter: filter,
                         accessWordAsFilter: accessWordAsFilter)
        case let other:
            throw .unknownKeyword(other)
        }
    }

    /// C's `isspace` in the C locale.
    static func isSpace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || (byte >= 0x09 && byte <= 0x0D)
    }

    /// The next space-separated word from `cursor` (as `strtok_r` with the delimiter " " finds it), leaving
    /// `cursor` just after the single space that ends it, or at the end.
    static func nextWord(_ line: ArraySlice<UInt8>, _ cursor: inout Int) -> ArraySlice<UInt8>? {
        var start = cursor
        while start < line.endIndex && line[start] == UInt8(ascii: " ") { start += 1 }
        guard start < line.endIndex else {
            cursor = line.endIndex
            return nil
        }
        var end = start
        while end < line.endIndex && line[end] != UInt8(ascii: " ") { end += 1 }
        cursor = end < line.endIndex ? end + 1 : end
        return line[start..<end]
    }

    /// Everything from `cursor` to the end with white space trimmed from both ends; nil if nothing is left.
    static func rest(_ line: ArraySlice<UInt8>, _ cursor: Int) -> ArraySlice<UInt8>? {
        var start = cursor
        var end = line.endIndex
        while start < end && isSpace(line[start]) { start += 1 }
        while end > start && isSpace(line[end - 1]) { end -= 1 }
        return start < end ? line[start..<end] : nil
    }

    /// The bytes as a string. The file's text is valid UTF-8 and is only ever cut at ASCII bytes, so this never
    /// has to repair anything.
    static func string(_ bytes: ArraySlice<UInt8>) -> String {
        String(decoding: bytes, as: UTF8.self)
    }
}
