// The floor under any REST search on this machine: a bare node:http server (no framework, no
// search) that reads each request body and answers a fixed JSON body shaped like a 10-hit query
// result. Run by bench/lib/http-floor.ts; prints its port on stdout.
import http from 'node:http';

const hits = Array.from({ length: 10 }, (_, i) => ({ id: 10_000 + i * 997, version: 0, score: 1234.5678 + i }));
const answer = JSON.stringify({ result: { points: hits }, status: 'ok', time: 0.000123 });
const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  req.on('data', () => {});
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) });
    res.end(answer);
  });
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
