import ArgumentParser
import TernServer

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `tern passwd`: `mosquitto_passwd` with the same arguments, messages and exit statuses.
struct Passwd: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage password files (the interface of mosquitto_passwd).",
        usage: """
            tern passwd [-H sha512-pbkdf2 | -H sha512] [-I iterations] [-c | -D] passwordfile username
            tern passwd [-H sha512-pbkdf2 | -H sha512] [-I iterations] [-c] -b passwordfile username password
            tern passwd [-H sha512-pbkdf2 | -H sha512] [-I iterations] -U passwordfile
            """,
        discussion: """
            Adds a user to a password file or changes a user's password (prompting twice, without echo, unless \
            -b gives it), deletes a user (-D), or hashes a file of plain-text passwords (-U). Files are \
            interchangeable with Mosquitto's, in both directions ($7$ PBKDF2-SHA512 by default, $6$ SHA-512 with \
            -H sha512). Options come before the file name, as for mosquitto_passwd. \
            Comments, blank lines and other users' lines are kept as they are. Exit status: 0 on success, 2 \
            when the two passwords typed differ, 1 on any other error.
            """)

    @Flag(name: .customShort("b"), help: "Batch mode: the password is the last argument (visible in `ps` and shell history).")
    var batch = false

    @Flag(name: .customShort("c"), help: "Create a new password file. This will overwrite an existing file.")
    var create = false

    @Flag(name: .customShort("D"), help: "Delete the user instead of adding it or changing its password.")
    var delete = false

    @Flag(name: .customShort("U"), help: "Hash every plain-text password in the file (hashes already there are kept).")
    var upgrade = false

    @Option(name: .customShort("H"), help: ArgumentHelp(
        "The hash: sha512-pbkdf2 ($7$, the default) or sha512 ($6$, for Mosquitto 1.6 and earlier).",
        valueName: "hash"))
    var hashName: String?

    @Option(name: .customShort("I"), help: ArgumentHelp(
        "PBKDF2 iterations (default 101, as mosquitto_passwd writes).", valueName: "iterations"))
    var iterationsText: String?

    @Argument(parsing: .captureForPassthrough, help: ArgumentHelp(
        "passwordfile, then username (unless -U), then password (with -b).", valueName: "arguments"))
    var arguments: [String] = []

    func run() throws {
        // The arguments are captured as mosquitto_passwd reads them, so help is recognised here.
        if let first = arguments.first, first == "--help" || first == "-h" { throw CleanExit.helpRequest(self) }
        let status = execute()
        if status != 0 { throw ExitCode(status) }
    }

    /// Runs the command and returns its exit status, as `mosquitto_passwd`'s `main` does.
    private func execute() -> Int32 {
        if !batch, !create, !delete, !upgrade, hashName == nil, iterationsText == nil, arguments.isEmpty {
            Console.out(Self.usage)
            return 1
        }
        var algorithm = PasswordHash.Algorithm.sha512PBKDF2
        if let hashName {
            guard let chosen = PasswordHash.Algorithm(rawValue: hashName) else {
                return Console.error("Error: Unknown hash type '\(hashName)'")
            }
            algorithm = chosen
        }
        var iterations = PasswordHash.defaultIterations
        if let iterationsText {
            // As atoi: a number that is not one is 0.
            iterations = Int(iterationsText) ?? 0
            guard iterations >= 1 else { return Console.error("Error: Number of iterations must be > 0.") }
            guard iterations <= PasswordHash.maximumIterations else {
                return Console.error("Error: Number of iterations must be at most \(PasswordHash.maximumIterations).")
            }
        }

        if create && delete { return Console.error("Error: -c and -D cannot be used together.") }
        if create && upgrade { return Console.error("Error: -c and -U cannot be used together.") }
        if delete && upgrade { return Console.error("Error: -D and -U cannot be used together.") }
        if delete && batch { return Console.error("Error: -b and -D cannot be used together.") }

        let file: String
        var username: String?
        var password: [UInt8]?
        if create {
            if batch {
                guard arguments.count >= 3 else {
                    return Console.error("Error: -c argument given but password file, username, or password missing.")
                }
                (file, username, password) = (arguments[0], arguments[1], Array(arguments[2].utf8))
            } else {
                guard arguments.count >= 2 else {
                    return Console.error("Error: -c argument given but password file or username missing.")
                }
                (file, username) = (arguments[0], arguments[1])
            }
        } else if delete {
            guard arguments.count >= 2 else {
                return Console.error("Error: -D argument given but password file or username missing.")
            }
            (file, username) = (arguments[0], arguments[1])
        } else if upgrade {
            guard arguments.count == 1 else { return Console.error("Error: -U argument given but password file missing.") }
            file = arguments[0]
        } else if batch && arguments.count == 3 {
            (file, username, password) = (arguments[0], arguments[1], Array(arguments[2].utf8))
        } else if !batch && arguments.count == 2 {
            (file, username) = (arguments[0], arguments[1])
        } else {
            Console.out(Self.usage)
            return 1
        }

        if let username, let problem = Self.problem(withUsername: username) { return Console.error(problem) }
        if let password, password.count > 65_535 {
            return Console.error("Error: Password must be less than 65536 characters long.")
        }

        if create {
            if password == nil {
                switch PasswordPrompt.read() {
                case .success(let typed): password = typed
                case .failure(let failure): return failure.status
                }
            }
            var document = PasswordFileDocument()
            document.setPassword(PasswordHash.make(password: password!, algorithm: algorithm,
                                                   iterations: iterations), for: username!)
            do {
                try document.write(to: file)
            } catch {
                return Console.error("Error: Unable to open file \(file) for writing. \(error.reason.errnoText).")
            }
            return 0
        }

        var document: PasswordFileDocument
        do {
            document = try PasswordFileDocument.read(path: file)
        } catch {
            if let line = error.line {
                return Console.error("Error: Corrupt password file at line \(line): \(error.reason).")
            }
            return Console.error("Error: Unable to open password file \(file). \(error.reason.errnoText).")
        }

        if delete {
            guard document.removeUser(username!) else {
                return Console.error("Warning: User \(username!) not found in password file.")
            }
        } else if upgrade {
            document.hashPlainTextPasswords(algorithm: algorithm, iterations: iterations)
        } else {
            if password == nil {
                switch PasswordPrompt.read() {
                case .success(let typed): password = typed
                case .failure(let failure): return failure.status
                }
            }
            document.setPassword(PasswordHash.make(password: password!, algorithm: algorithm,
                                                   iterations: iterations), for: username!)
        }
        do {
            try document.write(to: file)
        } catch {
            return Console.error("Error: Unable to write password file \(file). \(error.reason.errnoText).")
        }
        return 0
    }

    /// Why `username` cannot be written to a password file, as `mosquitto_passwd` words it; nil when it can.
    static func problem(withUsername username: String) -> String? {
        let bytes = Array(username.utf8)
        if bytes.count > 65_535 { return "Error: Username must be less than 65536 characters long." }
        if bytes.contains(where: { $0 < 0x20 || $0 == 0x7F }) {
            return "Error: Username must not contain control characters."
        }
        if bytes.contains(UInt8(ascii: ":")) { return "Error: Username must not contain the ':' character." }
        // mosquitto_passwd writes an empty name and then calls its own file corrupt; the broker drops the blanks
        // around a name, so one starting or ending with a space could never log in.
        if bytes.isEmpty { return "Error: Username must not be empty." }
        if bytes.first == 0x20 || bytes.last == 0x20 { return "Error: Username must not start or end with a space." }
        return nil
    }

    static let usage = """
        tern passwd is a tool for managing password files for Tern and Mosquitto.

        Usage: tern passwd [-H sha512 | -H sha512-pbkdf2] [-c | -D] passwordfile username
               tern passwd [-H sha512 | -H sha512-pbkdf2] [-c] -b passwordfile username password
               tern passwd -U passwordfile
         -b : run in batch mode to allow passing passwords on the command line.
         -c : create a new password file. This will overwrite existing files.
         -D : delete the username rather than adding/updating its password.
         -H : specify the hashing algorithm. Defaults to sha512-pbkdf2, which is recommended.
              Mosquitto 1.6 and earlier defaulted to sha512.
         -I : number of PBKDF2 iterations (default 101).
         -U : update a plain text password file to use hashed passwords.

        See docs/security.md for more information.


        """
}

extension PasswordFileError.Reason {
    /// The `strerror` text of an I/O failure, or the reason itself.
    fileprivate var errnoText: String {
        switch self {
        case .unreadable(let code), .unwritable(let code):
            return String(cString: strerror(code))
        default:
            return description
        }
    }
}

/// Standard output and error, written unbuffered so prompts and messages come out in order.
private enum Console {
    static func out(_ text: String) {
        emit(1, text)
    }

    /// Writes `text` and a newline to standard error; returns 1, the exit status of every such error.
    @discardableResult
    static func error(_ text: String) -> Int32 {
        emit(2, text + "\n")
        return 1
    }

    static func emit(_ descriptor: Int32, _ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                return
            }
            bytes = bytes.dropFirst(written)
        }
    }
}

/// Asks for the password twice, as `mosquitto_passwd` does: "Password: " then "Reenter password: " on standard
/// output. On a terminal the typing is read from /dev/tty with echo off (line editing still works); otherwise
/// each password is one line of standard input. Fails with 1 on an empty password or end of input, 2 when the
/// two differ.
private enum PasswordPrompt {
    struct Failure: Error {
        let status: Int32
    }

    static func read() -> Result<[UInt8], Failure> {
        let input = TerminalInput.make()
        defer { input.finish() }
        Console.out("Password: ")
        guard let first = input.readLine(), !first.isEmpty else {
            Console.error("Error: Empty password.")
            return .failure(Failure(status: 1))
        }
        Console.out("\n")
        Console.out("Reenter password: ")
        guard let second = input.readLine(), !second.isEmpty else {
            Console.error("Error: Empty password.")
            return .failure(Failure(status: 1))
        }
        Console.out("\n")
        guard first == second else {
            Console.error("Error: Passwords do not match.")
            return .failure(Failure(status: 2))
        }
        guard first.count <= 65_535 else {
            Console.error("Error: Password must be less than 65536 characters long.")
            return .failure(Failure(status: 1))
        }
        return .success(first)
    }
}

/// The terminal's settings while echo is off, for the signal handler to put back. Written only by the main
/// thread before and after a read, read by the handler, which runs on that same thread.
nonisolated(unsafe) private var echoRestore: (descriptor: Int32, settings: termios)?

private func restoreEcho() {
    if let (descriptor, saved) = echoRestore {
        var settings = saved
        _ = tcsetattr(descriptor, TCSAFLUSH, &settings)
        echoRestore = nil
    }
}

/// Where the passwords come from: the controlling terminal with echo off, or standard input.
private struct TerminalInput {
    let descriptor: Int32
    let ownsDescriptor: Bool

    static func make() -> TerminalInput {
        guard isatty(0) == 1 else { return TerminalInput(descriptor: 0, ownsDescriptor: false) }
        let tty = open("/dev/tty", O_RDWR | O_CLOEXEC)
        let input = tty >= 0 ? TerminalInput(descriptor: tty, ownsDescriptor: true)
                             : TerminalInput(descriptor: 0, ownsDescriptor: false)
        var settings = termios()
        if tcgetattr(input.descriptor, &settings) == 0 {
            echoRestore = (input.descriptor, settings)
            for number in Self.interruptions {
                // Only async-signal-safe calls in here: tcsetattr, write, signal, raise.
                signal(number) { number in
                    restoreEcho()
                    var newline = UInt8(ascii: "\n")
                    _ = write(1, &newline, 1)
                    signal(number, SIG_DFL)
                    raise(number)
                }
            }
            var quiet = settings
            quiet.c_lflag &= ~tcflag_t(ECHO)
            _ = tcsetattr(input.descriptor, TCSAFLUSH, &quiet)
        }
        return input
    }

    /// One line without its `\n` (a `\r` is kept, as mosquitto_passwd keeps it); nil at end of input.
    func readLine() -> [UInt8]? {
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            let count = read(descriptor, &byte, 1)
            if count < 0 {
                if errno == EINTR { continue }
                return line.isEmpty ? nil : line
            }
            if count == 0 { return line.isEmpty ? nil : line }
            if byte == UInt8(ascii: "\n") { return line }
            line.append(byte)
        }
    }

    /// The signals that end the program while the terminal's echo is off.
    static let interruptions = [SIGINT, SIGTERM, SIGHUP, SIGQUIT]

    func finish() {
        restoreEcho()
        for number in Self.interruptions { signal(number, SIG_DFL) }
        if ownsDescriptor { _ = close(descriptor) }
    }
}
