from medforget.cli import main

raise SystemExit(main())
