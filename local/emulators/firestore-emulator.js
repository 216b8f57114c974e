// Starts @firestore-emulator/server on 127.0.0.1 (port from argv, 0 = any free port) and
// prints "listening 127.0.0.1:<port>" once it accepts connections. local/emulators/firestore.py
// runs this script; it stops when stdin closes or on SIGTERM/SIGINT.
"use strict";
const { ServerCredentials } = require("@grpc/grpc-js");
const { FirestoreServer } = require("@firestore-emulator/server");

const requested = Number.parseInt(process.argv[2] || "0", 10);
const emulator = new FirestoreServer();
// FirestoreServer.start() binds 0.0.0.0; bind its gRPC server on loopback only instead.
emulator.server.bindAsync(`127.0.0.1:${requested}`, ServerCredentials.createInsecure(), (err, port) => {
  if (err) {
    console.error(`cannot bind 127.0.0.1:${requested}: ${err.message}`);
    process.exit(1);
  }
  process.stdout.write(`listening 127.0.0.1:${port}\n`);
});
const stop = () => { emulator.stop(); process.exit(0); };
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
process.stdin.on("end", stop);
process.stdin.resume();
