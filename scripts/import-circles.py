#!/usr/bin/env python3
"""Reports import circles among src/'s modules, read from their `crate::` and
`super::` paths (test modules left out). Issue 21's check: not yet run in CI, since
one circle (instance::init -> resolve -> up) remains; `-e` prints every edge. Exits 1
when a circle is found."""
import re,os,sys,collections
import pathlib; root=str(pathlib.Path(__file__).resolve().parent.parent/'src')
mods={}
for dp,dn,fn in os.walk(root):
    for f in fn:
        if not f.endswith('.rs'): continue
        p=os.path.join(dp,f); rel=os.path.relpath(p,root)
        if rel.startswith('bin/') or rel=='main.rs' or rel=='lib.rs': continue
        parts=rel[:-3].split('/')
        if parts[-1]=='mod': parts=parts[:-1]
        mods['::'.join(parts)]=p
names=set(mods)
def resolve(path):
    # longest prefix in names
    segs=path.split('::')
    for i in range(len(segs),0,-1):
        c='::'.join(segs[:i])
        if c in names: return c
    return None
edges=collections.defaultdict(set)
for m,p in mods.items():
    src=open(p).read()
    # strip cfg(test) mod tests
    i=src.find('#[cfg(test)]\nmod tests')
    if i>=0: src=src[:i]
    for mm in re.finditer(r'crate::([a-z_:{}, A-Z0-9\n]+)',src):
        s=mm.group(1)
        # handle use crate::{a, b::c}
        if s.startswith('{'):
            inner=s[1:].split('}')[0]
            for part in inner.split(','):
                part=part.strip().split('::{')[0]
                r=resolve(part.replace(' ',''))
                if r and r!=m and not m.startswith(r+'::') : edges[m].add(r)
        else:
            path=s.split('::{')[0].split(';')[0].split(' ')[0].split('\n')[0].rstrip(':')
            r=resolve(path)
            if r and r!=m and not m.startswith(r+'::'): edges[m].add(r)
    # super:: uses
    for mm in re.finditer(r'super::([a-z_]+)',src):
        parent=m.rsplit('::',1)[0] if '::' in m else ''
        if not parent: continue
        c=parent+'::'+mm.group(1)
        if c in names and c!=m: edges[m].add(c)
# tarjan
idx={};low={};st=[];on=set();sccs=[];c=[0]
sys.setrecursionlimit(10000)
def sc(v):
    idx[v]=low[v]=c[0];c[0]+=1;st.append(v);on.add(v)
    for w in edges[v]:
        if w not in idx: sc(w);low[v]=min(low[v],low[w])
        elif w in on: low[v]=min(low[v],idx[w])
    if low[v]==idx[v]:
        s=[]
        while True:
            w=st.pop();on.discard(w);s.append(w)
            if w==v:break
        sccs.append(s)
for v in sorted(names):
    if v not in idx: sc(v)
for s in sccs:
    if len(s)>1: print(len(s),sorted(s))
if '-e' in sys.argv:
    for m in sorted(edges): print(m,'->',sorted(edges[m]))

sys.exit(1 if any(len(s)>1 for s in sccs) else 0)
