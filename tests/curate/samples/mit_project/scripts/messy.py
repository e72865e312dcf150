import sys,os
def f(a,b,c,d,e,g,h):
  for q in a:
    if q:
      for w in b:
        if w:
          for r in c:
            if r:
              for t in d:
                if t:
                  for u in e:
                    if u>g and u<h and q!=w and r!=t: print(q,w,r,t,u,os.getcwd(),sys.platform)
def g2(x,y,zz):
  z=[]
  for k in x:
    if k:
      if k>y:
        if k>zz:
          if k>len(x):
            if k not in z: z.append(k);print(k,z,len(z),sum(z),max(z),min(z))
  return z
f(sys.argv,[1],[2],[3],[4],0,9);g2([5,6,7,8,9],1,2)
