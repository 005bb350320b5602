// What runs on a remote that may have no tsync (pure text, no I/O): a POSIX
// sh script the client writes into the stdin of a plain `sh` (so the remote
// command is one word, the same for ssh, `docker exec -i` and any stdio
// command, and no shell quoting crosses the link), and the node program it
// starts when only node is there.
//
// The script speaks in lines `\n@tsync-boot WORDS\n` on stdout:
//   run tsync|cached|installed|memory   a server starts now; its preamble follows
//   send|send damaged                   node waits for the build: `LENGTH\n` + gzip bytes
//   fail no-node | fail node vX is too old | fail damaged
// Anything printed before the first such line came from the login shell
// (a banner) and is skipped.
//
// Traps of agent installers it avoids: nothing is written to or run from
// /tmp (noexec /tmp), the cache is made 0700/0600 whatever the umask, the
// home is $HOME (or XDG_CACHE_HOME), not /home/USER, a banner cannot be
// mistaken for the protocol, concurrent installs each write their own
// temporary and rename it into place, and the bytes run are the bytes whose
// SHA-256 was checked (they run from memory, even when cached).
//
// The client sends nothing after the build until the server's preamble has
// arrived, so node never reads past the build and the server finds stdin
// clean (the bootstrap resumes it: a paused stream would not flow for the
// server's own listener).

export const BOOT_MARK = '@tsync-boot ';

/** Node's part: check the version, run the cached build or receive, check, cache and run it. ES5-ish, double quotes only. */
const BOOT_JS = [
  'var a=process.argv.slice(1),v=a[0],h=a[1];',
  'var fs=require("fs"),path=require("path"),os=require("os"),crypto=require("crypto"),zlib=require("zlib");',
  'function say(s){process.stdout.write("\\n@tsync-boot "+s+"\\n")}',
  'var m=/^v(\\d+)\\.(\\d+)/.exec(process.version);',
  'if(!m||+m[1]<20||(+m[1]==20&&+m[2]<19)){say("fail node "+process.version+" is too old");process.exit(1)}',
  'var dir=path.join(process.env.XDG_CACHE_HOME||path.join(os.homedir(),".cache"),"tsync","server",v+"-"+h.slice(0,16)),file=path.join(dir,"tsync.mjs");',
  'function sha(b){return crypto.createHash("sha256").update(b).digest("hex")}',
  'function start(code,how){say("run "+how);process.stdin.resume();import("data:text/javascript;base64,"+code.toString("base64")).then(function(mod){return mod.run(["--server"])},function(e){say("fail cannot load the server build: "+e.message);process.exit(1)})}',
  'function keep(code){var tmp=file+".tmp-"+process.pid+"-"+crypto.randomBytes(6).toString("hex");',
  'try{fs.mkdirSync(dir,{recursive:true,mode:448});fs.writeFileSync(tmp,code,{mode:384});fs.renameSync(tmp,file);return "installed"}',
  'catch(e){try{fs.unlinkSync(tmp)}catch(e2){}return "memory"}}',
  'var old=null;try{old=fs.readFileSync(file)}catch(e){}',
  'if(old&&sha(old)===h){start(old,"cached")}else{',
  'var buf=Buffer.alloc(0),need=-1;',
  'var onData=function(c){buf=Buffer.concat([buf,c]);',
  'if(need<0){var i=buf.indexOf(10);if(i<0)return;need=+buf.subarray(0,i).toString();buf=buf.subarray(i+1)}',
  'if(buf.length<need)return;',
  'process.stdin.removeListener("data",onData);process.stdin.pause();',
  'var code=zlib.gunzipSync(buf.subarray(0,need));',
  'if(sha(code)!==h){say("fail damaged");process.exit(1)}',
  'start(code,keep(code))};',
  'process.stdin.on("data",onData);say(old?"send damaged":"send")}',
].join('');

/** The script for `sh` on the remote side. version and hash are safe words (checked). */
export function bootScript(version: string, hash: string): string {
  if (!/^[0-9A-Za-z.+-]+$/.test(version) || !/^[0-9a-f]{64}$/.test(hash)) throw new Error(`bootScript: bad version or hash ${version} ${hash}`);
  return [
    'if command -v tsync >/dev/null 2>&1; then printf "\\n@tsync-boot run tsync\\n"; exec tsync --server; fi',
    'if ! command -v node >/dev/null 2>&1; then printf "\\n@tsync-boot fail no-node\\n"; exit 127; fi',
    'n=$(node --version 2>/dev/null)',
    'case "$n" in v2[1-9].*|v[3-9][0-9].*|v[1-9][0-9][0-9]*|v20.19.*|v20.[2-9][0-9]*) ;; *) printf "\\n@tsync-boot fail node %s is too old\\n" "$n"; exit 1;; esac',
    `exec node -e '${BOOT_JS}' ${version} ${hash}`,
    '',
  ].join('\n');
}

/** What a `fail ...` line means for the user (one line, with what to do). */
export function bootFailure(host: string, why: string): string {
  const todo = 'install tsync there (or Node.js 20.19 or later, and tsync sends itself), or name a tsync with --tsync-path';
  if (why === 'no-node') return `neither tsync nor node was found on ${host}: ${todo}`;
  if (/^node .* is too old$/.test(why)) return `tsync is not installed on ${host} and its ${why} (20.19 or later is needed): ${todo}`;
  if (why === 'damaged') return `the tsync build sent to ${host} arrived damaged (SHA-256 mismatch)`;
  return `could not start tsync on ${host}: ${why}`;
}
